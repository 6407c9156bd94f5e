"""cdk-nag acknowledgments for the Orchestration construct: each names one finding and says why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_iam as iam

from dtrain import team_names
from dtrain.constructs.orchestration.permissions import EXPERIMENT_CREATORS, arn_types_called_by
from dtrain.constructs.submitter_policy import SCIENTIST_DESCRIBES
from dtrain.orchestration.experiment_entities import EXPERIMENT_ENTITIES
from dtrain.orchestration.job_kinds import KINDS, PROCESSING, TRAINING
from dtrain.requests.inference_request import REPACKED_ARCHIVE

if TYPE_CHECKING:
    from dtrain.constructs.orchestration.construct import Orchestration


def _ack(finding: str, reason: str) -> Acknowledgment:
    return Acknowledgment(id=f"AwsSolutions-{finding}", reason=reason)


XRAY = _ack(
    "IAM5[Resource::*]",
    "X-Ray tracing (Lambda Tracing.ACTIVE, state machine tracing) needs xray:PutTraceSegments and "
    "xray:PutTelemetryRecords, which support no resource-level permissions; the Submit Lambda's "
    "ec2:DescribeSubnets/SecurityGroups/Vpcs (checked by CreateTrainingJob in VPC mode) are the same.",
)
KMS_ACTIONS = [
    _ack(
        f"IAM5[Action::{action}]",
        "DynamoDB's grant on the ledger's customer-managed key: kms:GenerateDataKey*/ReEncrypt* are "
        "the action families DynamoDB uses for encryption, and the statement names that one key only.",
    )
    for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*")
]

SNS_TOPIC_KEY = _ack(
    "IAM5[Action::kms:GenerateDataKey*]",
    "Notify/NotifyFailure publish to the topic encrypted with the orchestration key: SNS needs "
    "kms:GenerateDataKey* and kms:Decrypt for the publisher (SNS Developer Guide, Key management); the "
    "statement names that one key and holds a kms:ViaService condition for SNS in this region.",
)

RUNTIME_MATCHES_TESTS = _ack(
    "L1",
    "python3.13, not the newest runtime: the Lambda code's tests run under Python 3.13 (.venv-lambda, "
    "make test) and 3.14 is not installed where they run; boto3/botocore are vendored at the tested "
    "version, so the runtime's own SDK is not used either.",
)


def _arn_head(stack: Stack, service: str) -> str:
    """How cdk-nag spells `arn:partition:service:region:account` in a finding id: the values
    themselves when the stack has an explicit env, the pseudo-parameter names otherwise."""

    def part(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value

    partition = part(stack.partition, "Partition")
    return f"arn:{partition}:{service}:{part(stack.region, 'Region')}:{part(stack.account, 'AccountId')}"


# Why each SageMaker resource's name prefix needs its wildcard (dtrain.orchestration.job_kinds);
# the hosting resources' reason is _HOSTED_PREFIX_REASON.
_JOB_PREFIX_REASONS = {
    KINDS[TRAINING].arn_type: (
        "Training job names are derived per execution at run time; every SageMaker action is scoped to "
        "the platform's job-name prefix '{prefix}-', which is the scoping the platform promises."
    ),
    KINDS[PROCESSING].arn_type: (
        "Processing jobs (a spec's processing step) are named per execution like training jobs; every "
        "SageMaker action on them is scoped to the same job-name prefix '{prefix}-'."
    ),
}
_HOSTED_PREFIX_REASON = (
    "SageMaker {arn_type} names are derived per execution (an endpoint's from the spec) at run time; "
    "every action on them is scoped to the platform's prefix '{prefix}-'."
)


def _sagemaker_prefix_ack(
    orchestration: Orchestration, arn_type: str, team: str | None = None
) -> Acknowledgment:
    """The wildcard of one SageMaker ARN type on the platform's prefix (lower-cased, as in ARNs);
    `team`: on the team's prefix `<prefix>-<team>` (its scientists' policy)."""
    stack = Stack.of(orchestration)
    prefix = team_names.resource_prefix(orchestration.options.job_name_prefix, team)
    reason = _JOB_PREFIX_REASONS.get(arn_type, _HOSTED_PREFIX_REASON)
    return _ack(
        f"IAM5[Resource::{_arn_head(stack, 'sagemaker')}:{arn_type}/{prefix.lower()}-*]",
        reason.format(prefix=prefix, arn_type=arn_type),
    )


def _experiment_acks(orchestration: Orchestration) -> list[Acknowledgment]:
    """Submit's CreateExperiment / CreateTrial on every name (permissions.allow_experiments)."""
    head = _arn_head(Stack.of(orchestration), "sagemaker")
    return [
        _ack(
            f"IAM5[Resource::{head}:{entity.arn_type}/*]",
            f"Submit creates the SageMaker {entity.noun} a job's ExperimentConfig names before the job "
            "(SageMaker refuses a job naming one that does not exist); its name is the scientist's or the "
            "sweep's, known only at run time and not on the platform's prefix. Create only: a name in use "
            "is refused, so no existing one can be changed.",
        )
        for entity in EXPERIMENT_ENTITIES
    ]


def acknowledge_orchestration(orchestration: Orchestration) -> None:
    """Every finding of the orchestration's roles and policies, acknowledged where it arises.
    Long: one acknowledgment per finding, each with its reason, read top to bottom."""
    o, stack = orchestration, Stack.of(orchestration)
    prefix = o.options.job_name_prefix
    ledger_index = _ack(
        f"IAM5[Resource::<{stack.get_logical_id(o.ledger.node.default_child)}.Arn>/index/*]",  # type: ignore[arg-type]
        "Queries of the ledger's own global secondary index (by_execution); the wildcard covers the "
        "indexes of this one table only.",
    )
    executions = {team: _executions_ack(o, team) for team in o.team_state_machines}
    for part in o.functions.PARTS:
        # Submit: each team's, on its team's prefix (permissions.scoped_functions).
        owners = o.functions.submits.items() if part == "submit" else ((None, getattr(o.functions, part)),)
        for team, fn in owners:
            acks = [XRAY, *KMS_ACTIONS, ledger_index]
            # The SageMaker ARN types this Lambda's statements name (permissions.allow_sagemaker).
            acks += [_sagemaker_prefix_ack(o, arn_type, team) for arn_type in arn_types_called_by(part)]
            if part in EXPERIMENT_CREATORS:
                acks += _experiment_acks(o)
            if fn.role is not None:
                Validations.of(fn.role).acknowledge(*acks)
            Validations.of(fn).acknowledge(RUNTIME_MATCHES_TESTS)
    Validations.of(o.task_token_answers).acknowledge(*executions.values())
    for team, answers in o.token_answerers.items():
        if team is not None:  # a team's Submit's: its own state machine's executions
            Validations.of(answers).acknowledge(executions[team])
    invoke_versions = [
        _ack(
            f"IAM5[Resource::<{stack.get_logical_id(fn.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "Step Functions' LambdaInvoke grant covers the function and its versions/aliases (ARN:*), "
            "so a published version can be invoked; it names this one function.",
        )
        for fn in (*o.functions.submits.values(), o.finalize_fn)
    ]
    for state_machine in o.team_state_machines.values():
        Validations.of(state_machine.role).acknowledge(XRAY, SNS_TOPIC_KEY, *invoke_versions)
    for team, submit in o.functions.submits.items():
        if submit.role is not None:
            Validations.of(submit.role).acknowledge(*_repack_acks(o, prefix, team))
    for key, policy in o.team_policies.items():
        team = None if key not in o.props.team_roles else key
        _acknowledge_submitter_policy(
            o,
            policy,
            team,
            # A team's policy has no ledger statement (task tokens).
            *([ledger_index] if team is None else []),
            # The job kinds the scientists' policy describes (the endpoints it also invokes).
            *(
                _sagemaker_prefix_ack(o, KINDS[kind].arn_type, team)
                for kinds in SCIENTIST_DESCRIBES.values()
                for kind in kinds
            ),
            executions[key],
        )


def _executions_ack(o: Orchestration, team: str) -> Acknowledgment:
    """The executions of one state machine (the one, or a team's)."""
    stack = Stack.of(o)
    sm_logical = stack.get_logical_id(o.team_state_machines[team].node.default_child)  # type: ignore[arg-type]
    return _ack(
        f"IAM5[Resource::{_arn_head(stack, 'states')}:execution:<{sm_logical}.Name>:*]",
        "Reconcile reads the status of executions of this one state machine; execution names are only "
        "known at run time.",
    )


def _bucket_ref(orchestration: Orchestration) -> str:
    from dtrain.constructs.training_stack import export_name

    artifacts = orchestration.artifacts_bucket
    return (
        f"<{Stack.of(artifacts).get_logical_id(artifacts.node.default_child)}.Arn>"  # type: ignore[arg-type]
        if Stack.of(artifacts) is Stack.of(orchestration)
        else export_name(Stack.of(artifacts).stack_name, "ArtifactsBucketArn")
    )


def _repack_acks(orchestration: Orchestration, prefix: str, team: str | None) -> list[Acknowledgment]:
    """The `model` phase's repack (OrchestrationStack._allow_repack): one object name per job,
    the job's name known only at run time; the code's, per execution (`team`: under its prefix)."""
    from dtrain.constructs.training_stack import INFERENCE_CODE_PATTERN

    bucket_ref = _bucket_ref(orchestration)
    output = f"{team_names.s3_prefix(team)}{orchestration.output_prefix}"
    prefix = team_names.resource_prefix(prefix, team)
    return [
        _ack(
            f"IAM5[Resource::{bucket_ref}/{output}/{prefix}-*/output/{REPACKED_ARCHIVE}]",
            "The model phase reads the trained model.tar.gz of a training job of this platform (named "
            f"per execution on the prefix '{prefix}-'); that one file name only.",
        ),
        _ack(
            f"IAM5[Resource::{bucket_ref}/{output}/{prefix}-*/{REPACKED_ARCHIVE}]",
            "The model phase writes (and on retry reads) the repacked model.tar.gz beside the job's "
            f"output, <output>/<model named after the job>/model.tar.gz, on the prefix '{prefix}-'.",
        ),
        _ack(
            f"IAM5[Resource::{bucket_ref}/{team_names.s3_prefix(team)}{INFERENCE_CODE_PATTERN}]",
            "The model phase reads the inference code `dtrain submit` uploaded to "
            "<execution>/source/inference/sourcedir.tar.gz (an execution name chosen at submit time).",
        ),
    ]


def _acknowledge_submitter_policy(
    orchestration: Orchestration, policy: iam.ManagedPolicy, team: str | None, *shared: Acknowledgment
) -> None:
    """The scientists' policy (stacks/submitter_policy.py) names the same run-time resources as
    the Lambdas' (ledger index, job-name prefixes, executions) plus the ones below; a team's
    under its own prefixes (dtrain.team_names)."""
    from dtrain.constructs.training_stack import (
        INFERENCE_CODE_PATTERN,
        PROCESSING_CODE_PATTERN,
        SAGEMAKER_LOG_GROUP,
        SAGEMAKER_PROCESSING_LOG_GROUP,
        SOURCE_TARBALL_PATTERN,
    )

    stack = Stack.of(orchestration)
    prefix = team_names.resource_prefix(orchestration.options.job_name_prefix, team)
    own, jobs = team_names.s3_prefix(team), team_names.jobs_prefix(team)
    bucket_ref = _bucket_ref(orchestration)
    Validations.of(policy).acknowledge(
        *shared,
        _ack(
            f"IAM5[Resource::{bucket_ref}/{own}{INFERENCE_CODE_PATTERN}]",
            "`dtrain submit` uploads a deploy/transform block's local inference code to "
            "<execution>/source/inference/sourcedir.tar.gz (execution chosen at submit time); put only.",
        ),
        *(
            _ack(
                f"IAM5[Resource::{bucket_ref}/{jobs}/{prefix}-*/{model}]",
                "The scientist downloads the platform's trained or repacked model.tar.gz (issue 29 finding "
                "7): job names are made per execution at run time; get only, that file name only.",
            )
            for model in ("output/model.tar.gz", REPACKED_ARCHIVE)
        ),
        _ack(
            f"IAM5[Resource::{bucket_ref}/{own}{SOURCE_TARBALL_PATTERN}]",
            "`dtrain submit` uploads a local source_dir to <execution>/source/sourcedir.tar.gz, an "
            "execution name chosen at submit time; put only, and only that file name.",
        ),
        _ack(
            f"IAM5[Resource::{bucket_ref}/{own}{PROCESSING_CODE_PATTERN}]",
            "`dtrain submit` uploads a spec's local processing script to <execution>/source/processing/, "
            "an execution name chosen at submit time; put only, under that folder only.",
        ),
        _ack(
            f"IAM5[Resource::{_arn_head(stack, 'logs')}:log-group:{SAGEMAKER_LOG_GROUP}"
            f":log-stream:{prefix}-*]",
            "`dtrain logs` reads the streams SageMaker creates per training host (<job>/algo-N-<epoch>) "
            "in its fixed log group, only those of the platform's training jobs (job-name prefix).",
        ),
        _ack(
            f"IAM5[Resource::{_arn_head(stack, 'logs')}:log-group:{SAGEMAKER_PROCESSING_LOG_GROUP}"
            f":log-stream:{prefix}-*]",
            "`dtrain logs` reads the streams SageMaker creates per processing host (<job>/algo-N-<epoch>) "
            "in its fixed log group, only those of the platform's processing jobs (job-name prefix).",
        ),
    )
