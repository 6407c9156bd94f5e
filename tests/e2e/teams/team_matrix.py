"""The cross-team matrix of issue 29: each row is one action a team's principal (a scientist
holding only the team's deployed scientists' policy, or the team's execution role) makes, once
on its own team's resource and once on the other team's. The emulator's policy engine decides
(Authorizer.authorize_call: the same checks the emulator makes of a real call), so a denial is
AWS's AccessDenied from the deployed policies, never a check of ours.

Used by tests/e2e/teams/test_teams.py (asserts every row) and benchmarks/team_isolation.py (prints the
table for the closing note). `expected_own` is "allowed" where the team's own principal does the
action itself; "AccessDenied" where no team principal holds the action at all (the ledger, task
tokens, endpoint updates and deletes: the platform's Lambdas do those for the team's state
machine).

Besides the scientist and the execution role, two principals act for a team's state machine:
its Submit Lambda's role (one per team: the calls Submit makes on a spec's behalf, every
SageMaker call of its CALLERS row plus the repack, the role it passes and its task tokens) and
the state machine's own role (which Submit it may invoke). So a cross-team UpdateEndpoint or
DeleteEndpoint through a team's own state machine is refused by IAM, not only by Submit's
ownership check.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtrain.constructs.orchestration.permissions import sagemaker_calls
from dtrain.emulator import Emulator
from dtrain.emulator.authz.authorizer import AccessDenied, Principal
from dtrain.emulator.authz.calls import Check
from dtrain.orchestration.job_kinds import iam_action
from dtrain.requests.inference_request import REPACKED_ARCHIVE
from dtrain.team_names import output_id, scientists_policy_name
from tests.e2e.teams.team_platform import TEAMS, data_bucket, team_spec

ACTOR = "vision"  # the team whose principals act; the other team's resources are the targets
# Who acts in a row (Row.actor).
SCIENTIST, EXECUTION_ROLE = "scientist", "execution role"
SUBMIT_ROLE, STATE_MACHINE_ROLE = "team's Submit role", "team's state machine role"


@dataclass
class TeamPlatform:
    """The deployed two-team platform and what the rows name: per team its state machine, role,
    a waiting execution (its ARN, job and task token) and its scientists' policy."""

    emu: Emulator
    assembly: Path
    data_bucket: str
    artifacts_bucket: str
    ledger_table: str
    waiting: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, emu: Emulator) -> TeamPlatform:
        """The deployed platform (team_platform.deployed_team_platform: each team's data object
        in place) with a waiting execution per team; `stop_waiting` ends them."""
        platform = cls(
            emu=emu,
            assembly=emu.assembly,
            data_bucket=data_bucket(emu),
            artifacts_bucket=emu.output("ArtifactsBucketName"),
            ledger_table=emu.output("LedgerTableName"),
        )
        for team in TEAMS:
            platform.waiting[team] = platform._start_waiting(team)
            # The objects the rows read exist (as the emulator's own caller), so that S3's call
            # of KMS with the reader's permissions is decided too (the bucket's default key).
            key = f"teams/{team}/jobs/{platform.waiting[team]['job']}/output/model.tar.gz"
            emu.client("s3").put_object(Bucket=platform.artifacts_bucket, Key=key, Body=b"x")
        return platform

    def stop_waiting(self) -> None:
        """Stop the waiting executions (their jobs stop with them): on a deployment other tests
        share, a job left running would hold a share of vision's quota."""
        sfn = self.emu.client("stepfunctions")
        for waiting in self.waiting.values():
            arn = waiting["execution_arn"]
            if self.emu.describe_execution(arn)["status"] == "RUNNING":
                sfn.stop_execution(executionArn=arn)
            self.emu.wait_execution(arn)

    def _start_waiting(self, team: str) -> dict[str, str]:
        """An execution of the team left waiting for its job (its task token in the ledger)."""
        spec = team_spec(self.data_bucket, team, 1)
        arn = self.emu.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn(team), name=f"waiting-{team}", input=json.dumps(spec)
        )["executionArn"]
        (job,) = self.emu.jobs_of(arn)
        deadline = time.monotonic() + 30
        while True:
            rows = [r for r in self.emu.ledger().find_by_execution(arn) if r.job_name == job]
            if rows and rows[0].task_token:
                return {"execution_arn": arn, "job": job, "token": rows[0].task_token}
            if time.monotonic() > deadline:
                raise TimeoutError(f"no task token for {job}")
            time.sleep(0.05)

    def state_machine_arn(self, team: str) -> str:
        return self.emu.output(output_id(team, "StateMachineArn"))

    def role_arn(self, team: str) -> str:
        return self.emu.output_of("DtrainTraining", output_id(team, "ExecutionRoleArn"))

    def policy_document(self, team: str) -> dict[str, Any]:
        iam = self.emu.client("iam")
        name = scientists_policy_name("dtrain", team)
        (policy,) = [p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == name]
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        return dict(json.loads(document) if isinstance(document, str) else document)

    def scientist(self, team: str) -> Principal:
        """A scientist of `team`: an IAM user holding only the team's deployed policy."""
        document = json.dumps(self.policy_document(team))
        return Principal(
            f"arn:aws:iam::{self.emu.account}:user/{team}-scientist",
            policies=((f"{team}-scientists", document),),
        )

    def execution_role(self, team: str) -> Principal:
        return Principal(self.role_arn(team), session="job")

    def submit_function(self, team: str) -> dict[str, Any]:
        """The team's own Submit Lambda (`Team<Team>SubmitJob`), as deployed."""
        functions = self.emu.client("lambda").list_functions()["Functions"]
        (fn,) = [f for f in functions if f"{output_id(team, '')}SubmitJob" in f["FunctionName"]]
        return dict(fn)

    def submit_role(self, team: str) -> Principal:
        """The role the team's Submit runs as: what the team's state machine does to SageMaker."""
        return Principal(self.submit_function(team)["Role"], session="submit")

    def state_machine_role(self, team: str) -> Principal:
        arn = self.emu.client("stepfunctions").describe_state_machine(
            stateMachineArn=self.state_machine_arn(team)
        )
        return Principal(arn["roleArn"], session="states")

    def principal(self, actor: str, team: str) -> Principal:
        """The team's principal of a row's `actor`."""
        if actor == SCIENTIST:
            return self.scientist(team)
        if actor == SUBMIT_ROLE:
            return self.submit_role(team)
        if actor == STATE_MACHINE_ROLE:
            return self.state_machine_role(team)
        return self.execution_role(team)


# What a row's call is: (service, operation, params) for `target`'s resource, or a bare IAM check.
Call = Callable[[TeamPlatform, str], tuple[str, str, dict[str, Any]] | Check]


@dataclass(frozen=True)
class Row:
    id: str
    action: str
    actor: str  # "scientist" or "execution role"
    call: Call
    expected_own: str = "allowed"


@dataclass(frozen=True)
class Outcome:
    got: str  # "allowed" or "AccessDenied"
    code: str = ""
    message: str = ""


def _execution(p: TeamPlatform, team: str) -> str:
    return p.waiting[team]["execution_arn"]


def _job(p: TeamPlatform, team: str) -> str:
    return p.waiting[team]["job"]


def matrix_rows() -> list[Row]:
    return [*_scientist_and_job_rows(), *submit_rows()]


def _scientist_and_job_rows() -> list[Row]:
    sfn, s3, sm = "stepfunctions", "s3", "sagemaker"
    scientist, role = SCIENTIST, EXECUTION_ROLE
    no_team = "AccessDenied"
    return [
        Row(
            "start",
            "StartExecution on its state machine",
            scientist,
            lambda p, t: (sfn, "StartExecution", {"stateMachineArn": p.state_machine_arn(t), "input": "{}"}),
        ),
        Row(
            "describe",
            "DescribeExecution of its execution",
            scientist,
            lambda p, t: (sfn, "DescribeExecution", {"executionArn": _execution(p, t)}),
        ),
        Row(
            "stop",
            "StopExecution of its execution",
            scientist,
            lambda p, t: (sfn, "StopExecution", {"executionArn": _execution(p, t)}),
        ),
        Row(
            "history",
            "GetExecutionHistory of its execution",
            scientist,
            lambda p, t: (sfn, "GetExecutionHistory", {"executionArn": _execution(p, t)}),
        ),
        Row(
            "list",
            "ListExecutions of its state machine",
            scientist,
            lambda p, t: (sfn, "ListExecutions", {"stateMachineArn": p.state_machine_arn(t)}),
        ),
        Row(
            "ledger-get",
            "GetItem of its ledger row (holds the task token)",
            scientist,
            lambda p, t: (
                "dynamodb",
                "GetItem",
                {"TableName": p.ledger_table, "Key": {"job_name": {"S": _job(p, t)}}},
            ),
            expected_own=no_team,
        ),
        Row(
            "ledger-scan",
            "Scan of the ledger",
            scientist,
            lambda p, t: ("dynamodb", "Scan", {"TableName": p.ledger_table}),
            expected_own=no_team,
        ),
        Row(
            "task-token",
            "SendTaskSuccess with its execution's task token",
            scientist,
            lambda p, t: (sfn, "SendTaskSuccess", {"taskToken": p.waiting[t]["token"], "output": "{}"}),
            expected_own=no_team,
        ),
        Row(
            "logs",
            "GetLogEvents of its training job's stream",
            scientist,
            lambda p, t: (
                "logs",
                "GetLogEvents",
                {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": f"{_job(p, t)}/algo-1-1"},
            ),
        ),
        Row(
            "put-source",
            "PutObject of its execution's source archive",
            scientist,
            lambda p, t: (
                s3,
                "PutObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/run-x/source/sourcedir.tar.gz"},
            ),
        ),
        Row(
            "get-model",
            "GetObject of its trained model.tar.gz",
            scientist,
            lambda p, t: (
                s3,
                "GetObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/jobs/{_job(p, t)}/output/model.tar.gz"},
            ),
        ),
        Row(
            "describe-job",
            "DescribeTrainingJob of its job",
            scientist,
            lambda p, t: (sm, "DescribeTrainingJob", {"TrainingJobName": _job(p, t)}),
        ),
        Row(
            "describe-processing",
            "DescribeProcessingJob of its processing job",
            scientist,
            lambda p, t: (sm, "DescribeProcessingJob", {"ProcessingJobName": f"dtrain-{t}-prep"}),
        ),
        Row(
            "describe-endpoint",
            "DescribeEndpoint of its endpoint",
            scientist,
            lambda p, t: (sm, "DescribeEndpoint", {"EndpointName": f"dtrain-{t}-serve"}),
        ),
        Row(
            "processing-logs",
            "GetLogEvents of its processing job's stream",
            scientist,
            lambda p, t: (
                "logs",
                "GetLogEvents",
                {
                    "logGroupName": "/aws/sagemaker/ProcessingJobs",
                    "logStreamName": f"dtrain-{t}-prep/algo-1-1",
                },
            ),
        ),
        Row(
            "invoke",
            "InvokeEndpoint of its endpoint",
            scientist,
            lambda p, t: (
                "sagemaker-runtime",
                "InvokeEndpoint",
                {"EndpointName": f"dtrain-{t}-serve", "Body": b"{}"},
            ),
        ),
        Row(
            "update-endpoint",
            "UpdateEndpoint of its endpoint",
            scientist,
            lambda p, t: (
                sm,
                "UpdateEndpoint",
                {"EndpointName": f"dtrain-{t}-serve", "EndpointConfigName": "c"},
            ),
            expected_own=no_team,
        ),
        Row(
            "delete-endpoint",
            "DeleteEndpoint of its endpoint",
            scientist,
            lambda p, t: (sm, "DeleteEndpoint", {"EndpointName": f"dtrain-{t}-serve"}),
            expected_own=no_team,
        ),
        Row(
            "pass-role",
            "iam:PassRole of its execution role to SageMaker",
            scientist,
            lambda p, t: Check(
                "iam:PassRole", p.role_arn(t), context=(("iam:PassedToService", "sagemaker.amazonaws.com"),)
            ),
        ),
        Row(
            "job-reads-data",
            "a job reads its data (GetObject)",
            role,
            lambda p, t: (
                s3,
                "GetObject",
                {"Bucket": p.data_bucket, "Key": f"teams/{t}/cifar10/train/part-0"},
            ),
        ),
        Row(
            "job-lists-data",
            "a job lists its data (ListObjectsV2)",
            role,
            lambda p, t: (s3, "ListObjectsV2", {"Bucket": p.data_bucket, "Prefix": f"teams/{t}/cifar10/"}),
        ),
        Row(
            "job-reads-source",
            "a job reads its source archive",
            role,
            lambda p, t: (
                s3,
                "GetObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/run-x/source/sourcedir.tar.gz"},
            ),
        ),
        Row(
            "job-writes-output",
            "a job writes its model output",
            role,
            lambda p, t: (
                s3,
                "PutObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/jobs/{_job(p, t)}/output/model.tar.gz"},
            ),
        ),
        Row(
            "job-lists-output",
            "a job lists its output prefix (ListObjectsV2)",
            role,
            lambda p, t: (s3, "ListObjectsV2", {"Bucket": p.artifacts_bucket, "Prefix": f"teams/{t}/jobs/"}),
        ),
        Row(
            "processing-writes-logs",
            "a processing job writes its log stream",
            role,
            lambda p, t: (
                "logs",
                "PutLogEvents",
                {
                    "logGroupName": "/aws/sagemaker/ProcessingJobs",
                    "logStreamName": f"dtrain-{t}-prep/algo-1-1",
                    "logEvents": [],
                },
            ),
        ),
        Row(
            "endpoint-writes-logs",
            "its endpoint writes its log group",
            role,
            lambda p, t: (
                "logs",
                "PutLogEvents",
                {
                    "logGroupName": f"/aws/sagemaker/Endpoints/dtrain-{t}-serve",
                    "logStreamName": "AllTraffic/i-0",
                    "logEvents": [],
                },
            ),
        ),
        Row(
            "job-writes-logs",
            "a job writes its log stream",
            role,
            lambda p, t: (
                "logs",
                "PutLogEvents",
                {
                    "logGroupName": "/aws/sagemaker/TrainingJobs",
                    "logStreamName": f"{_job(p, t)}/algo-1-1",
                    "logEvents": [],
                },
            ),
        ),
    ]


def _sagemaker_request(operation: str, name_key: str, p: TeamPlatform, t: str) -> dict[str, Any]:
    """The smallest request of `operation` on team t's `dtrain-<t>-x` that the engine decides as
    Submit's would be: the name (the ARN it is authorized against), the role it passes, and the
    instance types and run limit the team's guardrails judge (within vision's)."""
    name = f"dtrain-{t}-x"
    request: dict[str, Any] = {name_key: name}
    if operation == "CreateTrainingJob":
        request |= {
            "RoleArn": p.role_arn(t),
            "ResourceConfig": {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }
    elif operation == "CreateProcessingJob":
        request |= {
            "RoleArn": p.role_arn(t),
            "ProcessingResources": {
                "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }
    elif operation == "CreateModel":
        request["ExecutionRoleArn"] = p.role_arn(t)
    elif operation in ("CreateEndpoint", "UpdateEndpoint"):
        request["EndpointConfigName"] = name
    elif operation == "CreateTransformJob":
        request["ModelName"] = name
    return request


def _sagemaker_row(operation: str, name_key: str) -> Row:
    return Row(
        f"submit-{operation}",
        f"{operation} of its {name_key.removesuffix('Name')} (Submit)",
        SUBMIT_ROLE,
        lambda p, t: ("sagemaker", operation, _sagemaker_request(operation, name_key, p, t)),
    )


def submit_rows() -> list[Row]:
    """What a team's state machine can make AWS do, through its own Submit: every SageMaker call
    the Submit Lambda makes (permissions.CALLERS, the rows derived from it so a new call gets its
    row), the repack's reads and writes, the role it passes, its task tokens; and which Submit
    the state machine's role may invoke."""
    rows = [
        _sagemaker_row(iam_action(method).split(":")[1], resource.name_key)
        for resource, _call, method, parts in sagemaker_calls()
        if "submit" in parts
    ]
    s3 = "s3"
    return [
        *rows,
        Row(
            "submit-gets-model",
            "GetObject of its trained model.tar.gz (repack)",
            SUBMIT_ROLE,
            lambda p, t: (
                s3,
                "GetObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/jobs/{_job(p, t)}/output/model.tar.gz"},
            ),
        ),
        Row(
            "submit-puts-repacked",
            "PutObject of its repacked model (repack)",
            SUBMIT_ROLE,
            lambda p, t: (
                s3,
                "PutObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/jobs/dtrain-{t}-x/{REPACKED_ARCHIVE}"},
            ),
        ),
        Row(
            "submit-lists-output",
            "ListObjectsV2 of its jobs' output (repack)",
            SUBMIT_ROLE,
            lambda p, t: (
                s3,
                "ListObjectsV2",
                {"Bucket": p.artifacts_bucket, "Prefix": f"teams/{t}/jobs/dtrain-{t}-x"},
            ),
        ),
        Row(
            "submit-reads-inference-code",
            "GetObject of its execution's inference code (repack)",
            SUBMIT_ROLE,
            lambda p, t: (
                s3,
                "GetObject",
                {"Bucket": p.artifacts_bucket, "Key": f"teams/{t}/run-x/source/inference/sourcedir.tar.gz"},
            ),
        ),
        Row(
            "submit-passes-role",
            "iam:PassRole of its execution role to SageMaker (Submit)",
            SUBMIT_ROLE,
            lambda p, t: Check(
                "iam:PassRole", p.role_arn(t), context=(("iam:PassedToService", "sagemaker.amazonaws.com"),)
            ),
        ),
        Row(
            "submit-answers-token",
            "SendTaskSuccess with its execution's task token (Submit)",
            SUBMIT_ROLE,
            lambda p, t: (
                "stepfunctions",
                "SendTaskSuccess",
                {"taskToken": p.waiting[t]["token"], "output": "{}"},
            ),
        ),
        Row(
            "submit-describes-execution",
            "DescribeExecution of its execution (Submit)",
            SUBMIT_ROLE,
            lambda p, t: ("stepfunctions", "DescribeExecution", {"executionArn": _execution(p, t)}),
        ),
        Row(
            "state-machine-invokes-submit",
            "lambda:InvokeFunction of its Submit (the state machine)",
            STATE_MACHINE_ROLE,
            lambda p, t: ("lambda", "Invoke", {"FunctionName": p.submit_function(t)["FunctionArn"]}),
        ),
    ]


def _decide(p: TeamPlatform, row: Row, target: str, principal: Principal | None = None) -> Outcome:
    if principal is None:
        principal = p.principal(row.actor, ACTOR)
    call = row.call(p, target)
    authz = p.emu.authz
    assert authz is not None, "the emulator must enforce IAM"
    try:
        if isinstance(call, Check):
            authz.check(principal, call, "iam")
        else:
            service, operation, params = call
            authz.authorize_call(principal, service, operation, params, p.emu.region)
    except AccessDenied as denied:
        return Outcome("AccessDenied", denied.code, denied.message)
    return Outcome("allowed")


def run_row(p: TeamPlatform, row: Row) -> tuple[Outcome, Outcome]:
    """The row's action on the actor's own team's resource, then on the other team's."""
    other = next(team for team in TEAMS if team != ACTOR)
    return _decide(p, row, ACTOR), _decide(p, row, other)


# -- the mutation table for the team statements ----------------------------------------------
# Each statement of the acting team's scientists' policy and of its execution role that names the
# team (its S3 prefix or its names), mutated two ways against the matrix:
# - removed: caught when a row allowed on the team's own resource becomes AccessDenied;
# - widened to every team (`teams/vision/` -> `teams/*/`, `dtrain-vision` -> `dtrain-*`): caught
#   when a row denied on the other team's resource becomes allowed.
# A statement neither row catches is listed with the reason (UNCAUGHT_REASONS) or as not caught.
UNCAUGHT_REASONS = {
    "ReadPlatformSettings": "names the orchestration stack, no team resource (every command reads it)",
}


@dataclass(frozen=True)
class Mutation:
    holder: str  # "scientists' policy", "execution role", "Submit role" or "state machine role"
    sid: str
    removed_caught_by: tuple[str, ...]
    widened_caught_by: tuple[str, ...]
    team_scoped: bool
    # A Deny (a team guardrail, dtrain.constructs.team_guardrails): removing it loosens, so no row
    # of this matrix can catch it; test_teams' allow-list test and
    # tests/emulator/test_team_guardrail_statements.py hold those.
    guard: bool = False


# The team's own Submit function's ARN (`function:<stack>-Team<Team>SubmitJob<hash>-<id>`).
_OWN_SUBMIT = re.compile(rf"(function:[A-Za-z0-9-]*){output_id(ACTOR, '')}SubmitJob[A-Za-z0-9-]*")


def _widen(statement: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(statement).replace(f"teams/{ACTOR}/", "teams/*/").replace(f"dtrain-{ACTOR}", "dtrain-*")
    return dict(json.loads(_OWN_SUBMIT.sub(r"\1Team*SubmitJob*", text)))


def _user(p: TeamPlatform, documents: list[dict[str, Any]]) -> Principal:
    return Principal(
        f"arn:aws:iam::{p.emu.account}:user/mutant",
        policies=tuple((f"p{i}", json.dumps(doc)) for i, doc in enumerate(documents)),
    )


def role_documents(p: TeamPlatform, team: str, role_arn: str = "") -> list[dict[str, Any]]:
    """The inline policies of the team's execution role (or of `role_arn`), as deployed."""
    iam = p.emu.client("iam")
    name = (role_arn or p.role_arn(team)).rsplit("/", 1)[1]
    documents = []
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
        documents.append(dict(json.loads(document) if isinstance(document, str) else document))
    return documents


def _statements(documents: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    return [
        (d, i, statement)
        for d, document in enumerate(documents)
        for i, statement in enumerate(document["Statement"])
    ]


def mutation_table(p: TeamPlatform) -> list[Mutation]:
    rows = matrix_rows()
    other = next(team for team in TEAMS if team != ACTOR)
    out: list[Mutation] = []
    holders = {
        "scientists' policy": ([p.policy_document(ACTOR)], SCIENTIST),
        "execution role": (role_documents(p, ACTOR), EXECUTION_ROLE),
        "Submit role": (role_documents(p, ACTOR, p.submit_role(ACTOR).arn), SUBMIT_ROLE),
        "state machine role": (role_documents(p, ACTOR, p.state_machine_role(ACTOR).arn), STATE_MACHINE_ROLE),
    }
    for holder, (documents, actor) in holders.items():
        own_allowed = [r for r in rows if r.actor == actor and r.expected_own == "allowed"]
        cross = [r for r in rows if r.actor == actor]
        for d, i, statement in _statements(documents):
            text = json.dumps(statement)
            scoped = f"teams/{ACTOR}/" in text or f"dtrain-{ACTOR}" in text or bool(_OWN_SUBMIT.search(text))
            if holder != "scientists' policy" and not scoped:
                # A role's platform-wide statements (images, network, keys, the ledger, X-Ray,
                # experiments) are not the team's.
                continue
            removed = [dict(doc) for doc in documents]
            removed[d] = {
                **removed[d],
                "Statement": [s for j, s in enumerate(removed[d]["Statement"]) if j != i],
            }
            widened = [dict(doc) for doc in documents]
            widened[d] = {
                **widened[d],
                "Statement": [_widen(s) if j == i else s for j, s in enumerate(widened[d]["Statement"])],
            }
            without, wider = _user(p, removed), _user(p, widened)
            out.append(
                Mutation(
                    holder=holder,
                    sid=str(statement.get("Sid") or _summary(statement)),
                    removed_caught_by=tuple(
                        r.id for r in own_allowed if _decide(p, r, ACTOR, without).got == "AccessDenied"
                    ),
                    widened_caught_by=tuple(
                        r.id for r in cross if scoped and _decide(p, r, other, wider).got == "allowed"
                    ),
                    team_scoped=scoped,
                    guard=statement.get("Effect") == "Deny",
                )
            )
    return out


def _summary(statement: dict[str, Any]) -> str:
    """A statement without a Sid (CDK's grants), named by its first action and resource:
    `Allow sagemaker:AddTags.. on training-job/dtrain-vision-*`."""
    actions = statement.get("Action")
    listed = [actions] if isinstance(actions, str) else list(actions or ["?"])
    resources = statement.get("Resource")
    resource = str(resources if isinstance(resources, str) else (resources or ["*"])[0])
    # The ARN's resource part (after the service's region:account), or the S3 key's tail.
    tail = resource.split(":", 5)[-1] if resource.startswith("arn:") else resource
    more = ".." if len(listed) > 1 else ""
    return f"{statement.get('Effect', '')} {listed[0]}{more} on {tail}"
