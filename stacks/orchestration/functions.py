"""The five orchestration Lambdas: each with its own log group and role, the stack's key for its
environment, X-Ray tracing, and the code asset of its handler (lambda_bundling)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from dtrain.constructs.orchestration.lambda_bundling import ARCHITECTURE as LAMBDA_ARCHITECTURE
from dtrain.constructs.orchestration.lambda_bundling import RUNTIME as LAMBDA_RUNTIME
from dtrain.constructs.orchestration.lambda_bundling import function_code

# X-Ray active tracing of the Lambdas; their Powertools Tracer follows it (observability_environment).
LAMBDA_TRACING = lambda_.Tracing.ACTIVE
# Submit's timeout; Reconcile's DTRAIN_SUBMIT_GRACE_S derives from it.
SUBMIT_TIMEOUT = Duration.minutes(2)


@dataclass(frozen=True)
class OrchestrationFunctions:
    """The Lambdas by their part: Submit (prepare/process/submit/hosting phases), JobEvents (the
    state-change events), Reconcile (the schedule), Abort (an execution's end), Finalize.

    A platform with teams has one Submit per team (`team_submits`, team -> function; `submit` is
    the first team's): Submit is the one Lambda that acts on a scientist's spec, so each team's
    runs under a role that reaches only that team's SageMaker names, models and execution role
    (permissions), and a team's state machine may invoke only its own. Without teams
    `team_submits` is {None: submit}."""

    submit: lambda_.Function
    job_events: lambda_.Function
    reconcile: lambda_.Function
    abort: lambda_.Function
    finalize: lambda_.Function
    team_submits: Mapping[str | None, lambda_.Function] = field(default_factory=dict)

    PARTS = ("submit", "job_events", "reconcile", "abort", "finalize")

    @property
    def submits(self) -> Mapping[str | None, lambda_.Function]:
        """Each team's Submit (None: the one of a platform without teams)."""
        return self.team_submits or {None: self.submit}

    @property
    def all(self) -> tuple[lambda_.Function, ...]:
        return self.named(*self.PARTS)

    def named(self, *parts: str) -> tuple[lambda_.Function, ...]:
        """The functions of these parts ("submit", "reconcile", ...), in the order given; "submit"
        stands for every team's."""
        return tuple(
            fn
            for part in parts
            for fn in (self.submits.values() if part == "submit" else (getattr(self, part),))
        )


@dataclass(frozen=True)
class FunctionDefaults:
    """What every function of one orchestration shares."""

    key: kms.IKey
    log_group_prefix: str
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy


def orchestration_function(
    scope: Construct,
    id_: str,
    folder: str,
    defaults: FunctionDefaults,
    *,
    environment: Mapping[str, str],
    timeout: Duration | None = None,
) -> lambda_.Function:
    log_group = logs.LogGroup(
        scope,
        f"{id_}Logs",
        # Named under the orchestration's prefix: the key policy admits CloudWatch Logs for these
        # log groups only (log_encryption.allow_log_groups_to_encrypt).
        log_group_name=f"{defaults.log_group_prefix}{id_}",
        retention=defaults.log_retention,
        encryption_key=defaults.key,
        removal_policy=defaults.removal_policy,
    )
    # Own role instead of AWSLambdaBasicExecutionRole: writes to its own log group only.
    role = iam.Role(
        scope,
        f"{id_}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"dtrain orchestration Lambda {id_}",
    )
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        id_,
        role=role,
        # python3.13 with boto3/botocore vendored at the tested version (lambda_bundling).
        runtime=LAMBDA_RUNTIME,
        architecture=LAMBDA_ARCHITECTURE,
        handler="handler.handler",
        code=function_code(folder),
        timeout=timeout or Duration.seconds(30),
        memory_size=256,
        environment=dict(environment),
        # The stack's key, not Lambda's AWS-managed one: only principals the key policy
        # admits may read the settings (Lambda Developer Guide, "Securing Lambda environment
        # variables", https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html).
        environment_encryption=defaults.key,
        tracing=LAMBDA_TRACING,
        log_group=log_group,
    )


def orchestration_functions(
    scope: Construct,
    defaults: FunctionDefaults,
    *,
    common_env: Mapping[str, str],
    submit_env: Mapping[str, str],
    teams: Sequence[str] = (),
) -> OrchestrationFunctions:
    """The five Lambdas; with `teams`, one Submit per team (`Team<Team>SubmitJob`, in the order
    given) instead of the one `SubmitJob`."""
    team_submits: dict[str | None, lambda_.Function] = {
        team: orchestration_function(
            scope,
            f"Team{team.capitalize()}SubmitJob",
            "submit_job",
            defaults,
            timeout=SUBMIT_TIMEOUT,
            environment=submit_env,
        )
        for team in teams
    }
    submit = (
        next(iter(team_submits.values()))
        if team_submits
        else orchestration_function(
            scope, "SubmitJob", "submit_job", defaults, timeout=SUBMIT_TIMEOUT, environment=submit_env
        )
    )
    job_events = orchestration_function(scope, "JobEvents", "job_events", defaults, environment=common_env)
    reconcile = orchestration_function(
        scope,
        "Reconcile",
        "reconcile",
        defaults,
        timeout=Duration.minutes(5),
        # A "Submitting" row older than Submit's timeout (plus a margin) has no live Submit.
        environment={**common_env, "DTRAIN_SUBMIT_GRACE_S": str(SUBMIT_TIMEOUT.to_seconds() + 60)},
    )
    # A 40-item sweep stops up to 40 jobs (StopTrainingJob and a ledger write each, retried by
    # botocore when throttled): 30 s was too tight (issue 26, risks). EventBridge retries a
    # failed invocation and Reconcile stops what an abort missed; the time only bounds the bill.
    abort = orchestration_function(
        scope, "AbortJob", "abort_job", defaults, timeout=Duration.minutes(2), environment=common_env
    )
    # Finalize keeps each sweep job's full result in its ledger row and reads the rows back.
    finalize = orchestration_function(scope, "Finalize", "finalize", defaults, environment=common_env)
    return OrchestrationFunctions(
        submit=submit,
        job_events=job_events,
        reconcile=reconcile,
        abort=abort,
        finalize=finalize,
        team_submits=team_submits,
    )
