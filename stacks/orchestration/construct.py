"""Orchestration: ledger, Lambdas, state machine, events, notifications, dashboard, in one
construct a platform composes (OrchestrationStack wraps it in a stack of its own).

Takes the platform's resources as typed props (OrchestrationProps: from the network, storage and
training constructs, or a team's own) and turns them into the Lambdas' PlatformSettings. Each
part lives in its own module: functions (the Lambdas), permissions (IAM), workflow (the state
machine definition), event_rules, monitoring, nag (cdk-nag acknowledgments).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dtrain import team_names
from dtrain.constructs.log_encryption import allow_log_groups_to_encrypt
from dtrain.constructs.orchestration import event_rules, monitoring, permissions
from dtrain.constructs.orchestration.functions import (
    LAMBDA_TRACING,
    FunctionDefaults,
    OrchestrationFunctions,
    orchestration_functions,
)
from dtrain.constructs.orchestration.lambda_environment import (
    check_environment,
    metrics_namespace,
    observability_environment,
)
from dtrain.constructs.orchestration.nag import acknowledge_orchestration
from dtrain.constructs.orchestration.props import OrchestrationProps
from dtrain.constructs.orchestration.workflow import build_definition
from dtrain.constructs.submitter_policy import submitter_policy
from dtrain.constructs.team_guardrails import add_team_guardrails
from dtrain.jobspec.team_limits import TeamLimits
from dtrain.team_names import DEFAULT_TEAM

LEDGER_GSI = "by_execution"
# dtrain.orchestration.ledger.OPEN_ROWS_INDEX and WATCH_ATTRIBUTE (tests/lambda/test_ledger_index.py
# checks the two agree).
LEDGER_OPEN_ROWS_GSI = "open_rows"
LEDGER_WATCH_ATTRIBUTE = "reconcile_watch"


class Orchestration(Construct):
    """The orchestration of one platform. Give it the id "Default" inside a stack of its own to
    keep OrchestrationStack's logical ids (CDK leaves a "Default" id out of them)."""

    def __init__(self, scope: Construct, construct_id: str, props: OrchestrationProps) -> None:
        """Long because it is the wiring in the order the parts depend on each other: key, ledger,
        topic, Lambdas, state machines (one, or one per team), grants, rules, policies."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        opts = props.options
        self.props = props
        self.options = opts
        self.artifacts_bucket = props.artifacts_bucket
        self.output_prefix = props.output_prefix
        self.stack_name = stack.stack_name
        # One key for everything the orchestration stores: ledger, topic, logs.
        self.key = kms.Key(
            self,
            "OrchestrationKey",
            enable_key_rotation=True,
            description="dtrain orchestration: job ledger, notifications, state machine logs",
            removal_policy=opts.removal_policy,
        )
        # A platform with teams (props.team_roles): a state machine and a scientists' policy per
        # team (dtrain.team_names); None stands for the one implicit team of a platform without.
        self.teams: tuple[str | None, ...] = tuple(sorted(props.team_roles)) or (None,)
        allow_log_groups_to_encrypt(
            self.key,
            sid="LogsOfThisStackOnly",
            log_groups=[
                *(self.team_log_group_name(team) for team in self.teams),
                f"{self.lambda_log_group_prefix}*",
            ],
        )
        self.ledger = self._ledger()
        self.topic = self._topic()
        self.functions = self._functions()
        self._allow_lambdas()
        self.team_state_machines = {team or DEFAULT_TEAM: self._state_machine(team) for team in self.teams}
        # The one state machine, or the first team's (name order).
        self.state_machine = next(iter(self.team_state_machines.values()))
        # The TaskTokenAnswers policies (None: the platform's; with teams, one per team's Submit).
        machines = dict(zip(self.teams, self.team_state_machines.values(), strict=True))
        self.token_answerers = permissions.token_answerers(self, self.functions, machines)
        self.task_token_answers = self.token_answerers[None]
        self._event_rules()
        self._monitoring()
        # What a scientist needs to run the CLI against this platform: a managed policy the
        # platform team attaches to scientists' roles (stacks/submitter_policy.py; docs/operator.md,
        # "The scientists' policy"); with teams, one per team, scoped to the team.
        self.team_policies = {
            team or DEFAULT_TEAM: submitter_policy(
                self,
                "SubmitterPolicy" if team is None else f"Team{team.capitalize()}SubmitterPolicy",
                orchestration=stack,
                state_machine_arn=self.team_state_machines[team or DEFAULT_TEAM].state_machine_arn,
                state_machine_name=self.team_state_machines[team or DEFAULT_TEAM].state_machine_name,
                ledger_table_arn=self.ledger.table_arn,
                ledger_key=self.key,
                artifacts_bucket=props.artifacts_bucket,
                data_key=props.data_key,
                job_name_prefix=opts.job_name_prefix,
                team=team,
            )
            for team in self.teams
        }
        self.submitter_policy = next(iter(self.team_policies.values()))
        # The teams' guardrails in IAM (None: no team has a limit IAM can hold).
        self.team_guardrails = add_team_guardrails(
            self,
            submit_roles={
                team or DEFAULT_TEAM: fn.role
                for team, fn in self.functions.submits.items()
                if fn.role is not None
            },
            teams=props.teams,
            job_name_prefix=opts.job_name_prefix,
            scientists_policies=self.team_policies,
        )
        acknowledge_orchestration(self)
        self._outputs()

    # -- the Lambdas' names, as the rest of the platform knows them
    @property
    def submit_fn(self) -> lambda_.Function:
        return self.functions.submit

    @property
    def job_events_fn(self) -> lambda_.Function:
        return self.functions.job_events

    @property
    def reconcile_fn(self) -> lambda_.Function:
        return self.functions.reconcile

    @property
    def abort_fn(self) -> lambda_.Function:
        return self.functions.abort

    @property
    def finalize_fn(self) -> lambda_.Function:
        return self.functions.finalize

    @property
    def lambda_log_group_prefix(self) -> str:
        return f"/dtrain/{self.stack_name}/"

    def team_log_group_name(self, team: str | None) -> str:
        """A team's state machine's log group: the one's name with `-<team>` (None: the one's)."""
        return self.state_machine_log_group_name + ("" if team is None else f"-{team}")

    @property
    def state_machine_log_group_name(self) -> str:
        # Vended-logs prefix: CloudWatch Logs then needs no resource-policy entry per log
        # group, whose 5,120-character policy fills up in accounts with many state machines
        # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
        return f"/aws/vendedlogs/states/{self.stack_name}-TrainingWorkflow"

    # ------------------------------------------------------------------------------------
    def _ledger(self) -> ddb.Table:
        ledger = ddb.Table(
            self,
            "JobLedger",
            partition_key=ddb.Attribute(name="job_name", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=self.options.removal_policy,
        )
        ledger.add_global_secondary_index(
            index_name=LEDGER_GSI,
            partition_key=ddb.Attribute(name="execution_arn", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="created_at", type=ddb.AttributeType.STRING),
        )
        # Sparse: only rows reconcile watches carry its key (dtrain.orchestration.ledger), so
        # reconcile's query reads those, not the whole ledger.
        ledger.add_global_secondary_index(
            index_name=LEDGER_OPEN_ROWS_GSI,
            partition_key=ddb.Attribute(name=LEDGER_WATCH_ATTRIBUTE, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="created_at", type=ddb.AttributeType.STRING),
        )
        return ledger

    def _topic(self) -> sns.Topic:
        topic = sns.Topic(self, "Notifications", master_key=self.key, enforce_ssl=True)
        # The alarms are named with this prefix, so the topic and key policies can name
        # exactly the alarms of this stack (a pattern: naming their ARNs would make the key
        # depend on alarms that depend on the topic that depends on the key).
        self.alarm_name_prefix = f"{self.stack_name}-"
        permissions.allow_alarms_to_notify(topic, self.key, self.alarm_name_prefix)
        if self.options.notification_email:
            topic.add_subscription(subs.EmailSubscription(self.options.notification_email))
        return topic

    def _platform_settings(self) -> dict[str, Any]:
        """What Submit builds requests from (dtrain's PlatformSettings), tokens unresolved."""
        props, opts = self.props, self.options
        teams: dict[str, Any] = {"teams": sorted(props.team_roles)} if props.team_roles else {}
        # Each team's limits that are set (dtrain.jobspec.team_limits); none: no key, as before.
        limits = {t.name: TeamLimits.from_team_fields(t) for t in props.teams}
        guardrails = {name: lim.to_dict() for name, lim in sorted(limits.items()) if lim.any}
        if guardrails:
            teams["team_guardrails"] = guardrails
        return {
            **teams,
            "region": Stack.of(self).region,
            "role_arn": props.execution_role.role_arn,
            # The execution role may write only under these prefixes (storage/training stacks).
            "output_s3_uri": f"s3://{props.artifacts_bucket.bucket_name}/{props.output_prefix}",
            "checkpoint_s3_uri": f"s3://{props.checkpoints_bucket.bucket_name}/{props.checkpoint_prefix}",
            "subnets": [s.subnet_id for s in props.subnets],
            "security_group_ids": [props.training_security_group.security_group_id],
            "jobs_in_vpc": opts.jobs_in_vpc,
            "image_uris": dict(props.image_uris),
            "fsx_id": props.fsx_id,
            "fsx_mount_name": props.fsx_mount_name,
            "efs_id": props.efs_id,
            "tags": dict(opts.tags),
            "environment": dict(opts.environment),
            "job_name_prefix": opts.job_name_prefix,
            "volume_kms_key_id": props.data_key.key_arn,
            "output_kms_key_id": props.data_key.key_arn,
            # Read by the execution role: `{"s3": "data", ...}` channels resolve under it.
            "data_s3_uri": (
                f"s3://{props.data_bucket.bucket_name}" if props.data_bucket is not None else None
            ),
        }

    def _functions(self) -> OrchestrationFunctions:
        opts = self.options
        settings = self._platform_settings()
        self.platform_json = Stack.of(self).to_json_string(settings)
        self.metrics_namespace = metrics_namespace(self.stack_name)
        common_env = {
            "LEDGER_TABLE": self.ledger.table_name,
            **observability_environment(
                namespace=self.metrics_namespace, tracing_active=LAMBDA_TRACING == lambda_.Tracing.ACTIVE
            ),
        }
        submit_env = {
            **common_env,
            "DTRAIN_PLATFORM": self.platform_json,
            "DTRAIN_WAIT_MARGIN_S": str(opts.wait_margin_s),
            "DTRAIN_THROTTLE_ATTEMPTS": str(opts.throttle_attempts),
            "DTRAIN_THROTTLE_BASE_S": str(opts.throttle_base_s),
            "DTRAIN_THROTTLE_CAP_S": str(opts.throttle_cap_s),
        }
        # The settings as JSON with the tokens still in them: what check_environment measures.
        estimate = json.dumps(settings, separators=(",", ":"))
        self.submit_env_bytes = check_environment("SubmitJob", {**submit_env, "DTRAIN_PLATFORM": estimate})
        defaults = FunctionDefaults(
            key=self.key,
            log_group_prefix=self.lambda_log_group_prefix,
            log_retention=opts.log_retention,
            removal_policy=opts.removal_policy,
        )
        return orchestration_functions(
            self,
            defaults,
            common_env=common_env,
            submit_env=submit_env,
            teams=sorted(self.props.team_roles),
        )

    def _allow_lambdas(self) -> None:
        props, prefix = self.props, self.options.job_name_prefix
        permissions.grant_ledger(self.functions, self.ledger, self.key)
        permissions.allow_sagemaker(self.functions, prefix)
        permissions.allow_experiments(self.functions)
        # Each team's Submit (the one Submit without teams): its team's models, under its own
        # output prefix and named after its jobs, and its team's execution role only.
        for team, submit in self.functions.submits.items():
            permissions.allow_repack(
                submit,
                props.artifacts_bucket,
                f"{team_names.s3_prefix(team)}{props.output_prefix}",
                team_names.resource_prefix(prefix, team),
                props.data_key,
                code_prefix=team_names.s3_prefix(team),
            )
            role = props.execution_role if team is None else props.team_roles[team]
            permissions.allow_submit_to_create_jobs(submit, [role], props.data_key)

    def _state_machine(self, team: str | None) -> sfn.StateMachine:
        """The workflow (of `team`: named `<prefix>-<team>`, its Submits told the team)."""
        suffix = "" if team is None else f"Team{team.capitalize()}"
        log_group = logs.LogGroup(
            self,
            f"{suffix}StateMachineLogs",
            log_group_name=self.team_log_group_name(team),
            encryption_key=self.key,
            retention=self.options.log_retention,
            removal_policy=self.options.removal_policy,
        )
        state_machine = sfn.StateMachine(
            self,
            f"{suffix}TrainingWorkflow",
            state_machine_name=(
                None if team is None else team_names.state_machine_name(self.options.job_name_prefix, team)
            ),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                build_definition(
                    Construct(self, f"{suffix}Workflow"),
                    # The team's own Submit: the state machine's role may invoke no other.
                    submit_fn=self.functions.submits[team],
                    finalize_fn=self.finalize_fn,
                    topic=self.topic,
                    tuning=self.options.tuning,
                    team=team,
                )
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ALL,
                # Payloads carry task tokens and whole specs: the history keeps them, logs do not.
                include_execution_data=False,
            ),
        )
        permissions.allow_workflow_to_notify(state_machine, self.key)
        return state_machine

    def _event_rules(self) -> None:
        prefix = self.options.job_name_prefix
        self.job_state_rules = event_rules.job_state_rules(self, self.job_events_fn, prefix)
        self.abort_rule = event_rules.execution_end_rule(
            self, self.abort_fn, list(self.team_state_machines.values())
        )
        self.reconcile_rule = event_rules.reconcile_schedule(
            self, self.reconcile_fn, self.options.reconcile_every
        )

    def _monitoring(self) -> None:
        by_name = {
            "Submit": self.submit_fn,
            # Every other team's Submit (the first team's is "Submit").
            **{
                f"Team{team.capitalize()}Submit": fn
                for team, fn in list(self.functions.team_submits.items())[1:]
                if team
            },
            "JobEvents": self.job_events_fn,
            "Reconcile": self.reconcile_fn,
            "Abort": self.abort_fn,
            "Finalize": self.finalize_fn,
        }
        monitoring.add_alarms(
            self,
            state_machine=self.state_machine,
            functions=by_name,
            topic=self.topic,
            alarm_name_prefix=self.alarm_name_prefix,
        )
        # The first team's failures alarm through the one above; every other team's through its own.
        for team, state_machine in list(self.team_state_machines.items())[1:]:
            monitoring.add_execution_alarm(
                self, state_machine, self.topic, self.alarm_name_prefix, f"Team{team.capitalize()}"
            )
        monitoring.add_dashboard(
            self,
            dashboard_name=f"{self.stack_name}-training",
            state_machines=self.team_state_machines,
            functions=by_name,
            job_name_prefix=self.options.job_name_prefix,
            metrics_namespace=self.metrics_namespace,
        )

    def _outputs(self) -> None:
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "LedgerTableName", value=self.ledger.table_name)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "PlatformSettings", value=self.platform_json)
        CfnOutput(self, "ArtifactsBucketName", value=self.props.artifacts_bucket.bucket_name)
        CfnOutput(
            self,
            "SubmitterPolicyArn",
            value=self.submitter_policy.managed_policy_arn,
            description="Attach to scientists' roles: what dtrain submit|status|list|logs|stop needs"
            + (" (the first team's)" if self.props.team_roles else ""),
        )
        for team in sorted(self.props.team_roles):
            CfnOutput(
                self,
                team_names.output_id(team, "StateMachineArn"),
                value=self.team_state_machines[team].state_machine_arn,
            )
            CfnOutput(
                self,
                team_names.output_id(team, "SubmitterPolicyArn"),
                value=self.team_policies[team].managed_policy_arn,
                description=f"Attach to team {team}'s scientists' roles (its SSO permission set)",
            )
