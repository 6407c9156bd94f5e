"""Finding the deployed platform from the outputs of its orchestration stack.

The stack's outputs are the CLI's whole configuration: the state machine to start, the ledger
to read, the bucket for uploaded code. Nothing is looked up by resource name, so a renamed or
second platform (`--stack`) works the same.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dtrain import team_names
from dtrain.jobspec.platform import PlatformSettings
from dtrain.remote.aws import AwsSession, error_code, translate_aws_errors
from dtrain.remote.errors import PlatformNotFound

DEFAULT_STACK_NAME = "DtrainOrchestration"
STACK_ENV_VAR = "DTRAIN_STACK"

# Outputs without which a command cannot work; the others are optional.
REQUIRED_OUTPUTS = ("StateMachineArn", "LedgerTableName", "ArtifactsBucketName")
# CloudFormation states in which the outputs are current and the resources exist.
_USABLE_STATES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_IN_PROGRESS",
    }
)


def default_stack_name() -> str:
    return os.environ.get(STACK_ENV_VAR) or DEFAULT_STACK_NAME


@dataclass(frozen=True)
class DeployedPlatform:
    """What the CLI needs to know about one deployed platform."""

    stack_name: str
    region: str
    state_machine_arn: str
    ledger_table_name: str
    artifacts_bucket: str
    topic_arn: str | None = None
    platform_settings_json: str | None = None
    # Every output of the stack (a team's resources are outputs `Team<Team><What>`).
    outputs: Mapping[str, str] = field(default_factory=dict)
    # The team these handles are for (for_team); None: a platform without teams.
    team: str | None = None

    @property
    def teams(self) -> tuple[str, ...]:
        """The platform's teams, from its settings output (empty: a platform without teams)."""
        if not self.platform_settings_json:
            return ()
        try:
            settings = json.loads(self.platform_settings_json)
        except ValueError:
            return ()
        teams = settings.get("teams") if isinstance(settings, dict) else None
        return tuple(str(t) for t in teams) if isinstance(teams, list) else ()

    @property
    def key_prefix(self) -> str:
        """Where the team's uploads go in the artifacts bucket (`teams/<team>/`; "" without teams)."""
        return team_names.s3_prefix(self.team)

    def for_team(self, team: str) -> DeployedPlatform:
        """The team's handles: its state machine (output `Team<Team>StateMachineArn`) and its
        settings (PlatformSettings.for_team: its role, prefixes, job names and guardrails)."""
        output = team_names.output_id(team, "StateMachineArn")
        arn = self.outputs.get(output)
        if not arn:
            raise PlatformNotFound(
                f"stack {self.stack_name} has no output {output} for team {team}: redeploy it"
            )
        settings = self.platform_settings_json
        if settings:
            settings = PlatformSettings.from_json(settings).for_team(team).to_json()
        return dataclasses.replace(self, state_machine_arn=arn, platform_settings_json=settings, team=team)

    def execution_arn(self, execution_name: str) -> str:
        """The ARN Step Functions gives an execution of our state machine with this name."""
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{execution_name}"


def discover_platform(session: AwsSession, stack_name: str) -> DeployedPlatform:
    """Read the orchestration stack's outputs; PlatformNotFound when it is not deployed."""
    region = session.region
    cloudformation = session.client("cloudformation")
    with translate_aws_errors(f"read stack {stack_name}", passthrough=lambda code: code == "ValidationError"):
        try:
            response = cloudformation.describe_stacks(StackName=stack_name)
        except Exception as exc:
            # describe_stacks answers ValidationError "Stack with id X does not exist".
            if error_code(exc) == "ValidationError":
                raise PlatformNotFound(_not_deployed(stack_name, region)) from exc
            raise
    stacks = response.get("Stacks", [])
    if not stacks:
        raise PlatformNotFound(_not_deployed(stack_name, region))
    stack = stacks[0]
    state = str(stack.get("StackStatus", ""))
    if state not in _USABLE_STATES:
        raise PlatformNotFound(
            f"stack {stack_name} in {region} is {state}, not deployed: fix or redeploy it (cdk deploy)"
        )
    outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise PlatformNotFound(
            f"stack {stack_name} in {region} lacks the output(s) {', '.join(missing)}: "
            "is it the dtrain orchestration stack? (pass --stack or set DTRAIN_STACK)"
        )
    return DeployedPlatform(
        stack_name=stack_name,
        region=region,
        state_machine_arn=outputs["StateMachineArn"],
        ledger_table_name=outputs["LedgerTableName"],
        artifacts_bucket=outputs["ArtifactsBucketName"],
        topic_arn=outputs.get("TopicArn"),
        platform_settings_json=outputs.get("PlatformSettings"),
        outputs=outputs,
    )


def _not_deployed(stack_name: str, region: str) -> str:
    return (
        f"the dtrain platform is not deployed: no stack {stack_name} in {region} "
        "(deploy it with cdk deploy, or name another stack with --stack or DTRAIN_STACK)"
    )
