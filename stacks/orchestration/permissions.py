"""What the orchestration Lambdas and the state machine may do, statement by statement.

SageMaker calls are scoped to the platform's name prefix. Every SageMaker statement of the Lambdas
comes from the table of SageMaker resources (dtrain.orchestration.job_kinds: the job kinds and
the hosted resources, their boto3 methods, hence the IAM actions, and the ARN types each call is
authorized against) and CALLERS below: which Lambda makes which call, and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dtrain import team_names
from dtrain.constructs.orchestration.functions import OrchestrationFunctions
from dtrain.constructs.training_stack import INFERENCE_CODE_PATTERN, exported_arn
from dtrain.orchestration.experiment_entities import EXPERIMENT_ENTITIES, ExperimentEntity
from dtrain.orchestration.job_kinds import (
    CALLS,
    ENDPOINT,
    ENDPOINT_CONFIG,
    MODEL,
    PROCESSING,
    SAGEMAKER_RESOURCES,
    TRAINING,
    TRANSFORM,
    HostedResource,
    JobKind,
    iam_action,
)
from dtrain.requests.inference_request import REPACKED_ARCHIVE

# The ledger calls of the Lambdas (dtrain.orchestration.ledger.Ledger), and the key actions
# CDK's Table.grant_read_write_data pairs with them for a customer-managed key.
LEDGER_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
LEDGER_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)


# The ownership tag goes on at create (AddTags with Create*), read back (ListTags) to adopt the
# resource on retry: both with every create.
OWNERSHIP_TAG_ACTIONS = ("sagemaker:AddTags", "sagemaker:ListTags")


@dataclass(frozen=True)
class Callers:
    """The Lambdas (OrchestrationFunctions fields) that make each call on one resource of the
    table. Submit creates every resource; `stop` is the resource's stop method (StopTrainingJob,
    ...; an endpoint's is DeleteEndpoint)."""

    describe: tuple[str, ...]
    stop: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    create: tuple[str, ...] = ("submit",)

    def of(self, call: str) -> tuple[str, ...]:
        calls: tuple[str, ...] = getattr(self, call)
        return calls


# Abort (the execution-end event), Reconcile (the backstop) and Submit (a job created after its
# execution ended, dtrain.orchestration.submit) each stop jobs.
_JOB_STOPPERS = ("abort", "reconcile", "submit")
# After training (dtrain.orchestration.hosting): Finalize, Reconcile and Abort describe the
# endpoint or transform job an execution hosts (and Submit, which creates or adopts it).
_HOSTING_READERS = ("submit", "reconcile", "finalize", "abort")

# Who calls what, on this platform's prefix only.
CALLERS: Mapping[str, Callers] = {
    TRAINING: Callers(describe=("submit", "reconcile", "finalize"), stop=_JOB_STOPPERS),
    PROCESSING: Callers(describe=("submit", "reconcile"), stop=_JOB_STOPPERS),
    # Submit's hosting phases describe a model and an endpoint config to adopt them on retry;
    # nothing waits on them and nothing deletes them.
    MODEL: Callers(describe=("submit",)),
    ENDPOINT_CONFIG: Callers(describe=("submit",)),
    # Submit creates the endpoint, or updates it with a new config. Its stop is DeleteEndpoint:
    # - Submit deletes a Failed endpoint of the deploy's name: DeleteEndpoint is the only
    #   operation SageMaker accepts on it, and Deploy creates the endpoint again once it is gone
    #   (issue 26 finding 2);
    # - an endpoint still Creating cannot be deleted (SageMaker refuses DeleteEndpoint), so
    #   Reconcile deletes one its execution was creating when it ended, once it can
    #   (dtrain.orchestration.kinds): Abort does not.
    ENDPOINT: Callers(describe=_HOSTING_READERS, update=("submit",), stop=("submit", "reconcile")),
    # Abort and Reconcile stop a transform job. Not Submit: its hosting phases never stop what
    # they create (only a training or processing job created after its execution ended; the
    # policy-mutation benchmark found Submit's copy of this statement unused).
    TRANSFORM: Callers(describe=_HOSTING_READERS, stop=("abort", "reconcile")),
}


def sagemaker_calls() -> Iterator[tuple[JobKind | HostedResource, str, str, tuple[str, ...]]]:
    """Every call of CALLERS: the table's resource, the call, its boto3 method, its Lambdas."""
    for name, callers in CALLERS.items():
        resource = SAGEMAKER_RESOURCES[name]
        for call in CALLS:
            method = resource.method(call)
            if method is None:
                if callers.of(call):
                    raise ValueError(f"CALLERS gives {name} a {call} call the table has no method for")
                continue
            yield resource, call, method, callers.of(call)


def arn_types_called_by(part: str) -> tuple[str, ...]:
    """The SageMaker ARN types one Lambda's statements name (allow_sagemaker), in table order."""
    return tuple(
        dict.fromkeys(
            arn_type
            for resource, call, _, parts in sagemaker_calls()
            if part in parts
            for arn_type in resource.arn_types(call)
        )
    )


def sagemaker_arns(scope: Construct, resource_type: str, prefix: str) -> str:
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource_type}/{prefix}-*"


def _allow(fn: lambda_.Function, actions: Sequence[str], resources: Sequence[str]) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=list(resources)))


def grant_ledger(functions: OrchestrationFunctions, ledger: ddb.Table, key: kms.Key) -> None:
    for fn in functions.all:
        # What dtrain.orchestration.ledger calls, not grant_read_write_data: that also grants
        # the stream reads (dynamodb:GetRecords/GetShardIterator) of a table without a stream;
        # removing that statement broke nothing (benchmarks/policy_mutation.py).
        ledger.grant(fn, *LEDGER_ACTIONS)
        # DynamoDB uses the table's key with the caller's permissions (the same key grant
        # Table.grant_read_write_data adds; authz.calls._DYNAMODB_DATA).
        key.grant(fn, *LEDGER_KEY_ACTIONS)


def scoped_functions(
    functions: OrchestrationFunctions, parts: Sequence[str], prefix: str
) -> Iterator[tuple[lambda_.Function, str]]:
    """(function, the name prefix its SageMaker statements name) of these parts: a team's Submit
    gets the team's `<prefix>-<team>` (dtrain.team_names), every other Lambda the platform's.

    Why a team's Submit is held to its team's names by IAM: it is the Lambda that acts on a
    scientist's spec, and UpdateEndpoint and DeleteEndpoint are authorized against the endpoint's
    ARN (`endpoint/${EndpointName}`; UpdateEndpoint also against the endpoint config's),
    CreateModel against `model/${ModelName}`, CreateEndpointConfig against
    `endpoint-config/${EndpointConfigName}` (Service Authorization Reference, "Actions, resources,
    and condition keys for Amazon SageMaker AI", https://docs.aws.amazon.com/service-authorization/
    latest/reference/list_amazonsagemaker.html). Every resource a team's execution creates is named
    `<prefix>-<team>-...`, so a name-scoped ARN holds the team's Submit to the team's resources
    without tags (those resource types also take aws:ResourceTag, which dtrain's ownership tag
    would serve; names are enough and hold at create time too, before any tag exists)."""
    for part in parts:
        if part == "submit":
            for team, fn in functions.submits.items():
                yield fn, team_names.resource_prefix(prefix, team)
        else:
            yield getattr(functions, part), prefix


def allow_sagemaker(functions: OrchestrationFunctions, prefix: str) -> None:
    """Each call of CALLERS to its Lambdas: the IAM action of the table's boto3 method, on the ARN
    types SageMaker authorizes it against, on the platform's prefix (lower-cased: SageMaker ARNs
    carry resource names in lower case; a team's Submit: on its team's, scoped_functions).
    Creates come with the ownership tag's actions."""
    for resource, call, method, parts in sagemaker_calls():
        actions = [iam_action(method), *(OWNERSHIP_TAG_ACTIONS if call == "create" else ())]
        for fn, fn_prefix in scoped_functions(functions, parts, prefix):
            _allow(fn, actions, [sagemaker_arns(fn, t, fn_prefix.lower()) for t in resource.arn_types(call)])


# Who creates the experiment entities a job's ExperimentConfig names, before the job
# (dtrain.orchestration.experiment_entities): Submit, for training, processing and transform jobs.
EXPERIMENT_CREATORS = ("submit",)


def experiment_entity_arns(scope: Construct, entity: ExperimentEntity) -> str:
    """Every name of the entity's ARN type: an experiment is named by the scientist's spec (any
    experiment of the account, as with the SDK's fit()) or after a sweep's execution, not on the
    platform's prefix."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{entity.arn_type}/*"


def allow_experiments(functions: OrchestrationFunctions) -> None:
    """Create* of each experiment entity (CreateExperiment, CreateTrial), each on its own ARN
    type (Service Authorization Reference: CreateTrial acts on experiment-trial only). Create
    only: a name in use is refused (and adopted as it is), so no existing experiment or trial
    can be changed, described or deleted through it; nothing is tagged (no AddTags)."""
    for entity in EXPERIMENT_ENTITIES:
        for fn in functions.named(*EXPERIMENT_CREATORS):
            _allow(fn, [iam_action(entity.create)], [experiment_entity_arns(fn, entity)])


def artifacts_bucket_arn(scope: Construct, artifacts_bucket: s3.IBucket) -> str:
    """Through the storage stack's named export when the bucket lives in another stack
    (training_stack.exported_arn), so that the cdk-nag acknowledgments can name the findings."""
    if Stack.of(artifacts_bucket) is Stack.of(scope):
        return artifacts_bucket.bucket_arn
    return exported_arn(artifacts_bucket, "ArtifactsBucketArn")


def allow_repack(
    submit: lambda_.Function,
    artifacts_bucket: s3.IBucket,
    output_prefix: str,
    prefix: str,
    data_key: kms.IKey,
    code_prefix: str = "",
) -> None:
    """The `model` phase repacks a trained model with a block's own inference code
    (dtrain.orchestration.model_repack): it reads the trained model.tar.gz (under the output
    prefix) and the code `dtrain submit` uploaded, lists the output prefix (to tell a missing
    repacked archive from a denied one: HeadObject answers 403 without s3:ListBucket) and
    writes `<output prefix>/<model>/model.tar.gz` (the model is named after its training
    job, on this platform's prefix). Objects are encrypted with the data key, through S3.
    `code_prefix`: where the code lies (a team's `teams/<team>/`: `dtrain submit --team` uploads
    there, dtrain.team_names.s3_prefix)."""
    bucket = artifacts_bucket_arn(submit, artifacts_bucket)
    jobs = f"{bucket}/{output_prefix}/{prefix}-*"
    _allow(
        submit,
        ["s3:GetObject"],
        [
            f"{jobs}/output/model.tar.gz",
            f"{jobs}/{REPACKED_ARCHIVE}",
            f"{bucket}/{code_prefix}{INFERENCE_CODE_PATTERN}",
        ],
    )
    _allow(submit, ["s3:PutObject", "s3:AbortMultipartUpload"], [f"{jobs}/{REPACKED_ARCHIVE}"])
    submit.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket],
            conditions={"StringLike": {"s3:prefix": [f"{output_prefix}/{prefix}-*"]}},
        )
    )
    data_key.grant(submit, "kms:Decrypt", "kms:GenerateDataKey")


def allow_submit_to_create_jobs(
    submit: lambda_.Function, execution_roles: Sequence[iam.IRole], data_key: kms.IKey
) -> None:
    """What CreateTrainingJob (and the other creates) check of the caller besides the action.
    `execution_roles`: the platform's one role, or each team's (Submit passes the team's)."""
    submit.add_to_role_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[role.role_arn for role in execution_roles],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    # Jobs in the VPC: CreateTrainingJob checks the caller may use these network resources.
    # Describe* actions support no resource-level permissions: AWS requires "*".
    _allow(submit, ["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"], ["*"])
    # CreateTrainingJob checks the caller may let SageMaker create grants on the volume key
    # for the instances; only grants for an AWS resource (AWS KMS Developer Guide,
    # "kms:GrantIsForAWSResource": true when an integrated service creates the grant for
    # the caller, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).
    submit.add_to_role_policy(
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[data_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )
    data_key.grant(submit, "kms:DescribeKey")


def task_token_answers(
    scope: Construct,
    roles: Sequence[iam.IRole],
    state_machines: Sequence[sfn.StateMachine],
    policy_id: str = "TaskTokenAnswers",
) -> iam.Policy:
    """Token answers and execution lookups: a separate policy, so the Lambdas do not depend
    on the state machine that depends on them (no circular reference). One state machine, or
    one per team (JobEvents and Reconcile answer every team's; a team's Submit only its own
    state machine's tokens: TokenAnswerers)."""
    stack = Stack.of(scope)
    executions = [
        f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:"
        f"{state_machine.state_machine_name}:*"
        for state_machine in state_machines
    ]
    return iam.Policy(
        scope,
        policy_id,
        roles=list(roles),
        statements=[
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[state_machine.state_machine_arn for state_machine in state_machines],
            ),
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=executions),
        ],
    )


def token_answerers(
    scope: Construct,
    functions: OrchestrationFunctions,
    state_machines: Mapping[str | None, sfn.StateMachine],
) -> dict[str | None, iam.Policy]:
    """The TaskTokenAnswers policies: None -> JobEvents' and Reconcile's on every state machine
    (and the one Submit's, without teams: the policy as it always was); each team -> its own
    Submit's on its own state machine only, `Team<Team>SubmitTaskTokenAnswers` (the tokens of
    another team's executions are out of a team's Submit's reach, as IAM holds it)."""

    def roles_of(*fns: lambda_.Function) -> list[iam.IRole]:
        return [fn.role for fn in fns if fn.role]

    def roles(*parts: str) -> list[iam.IRole]:
        return roles_of(*functions.named(*parts))

    if not functions.team_submits:
        return {
            None: task_token_answers(
                scope, roles("submit", "job_events", "reconcile"), list(state_machines.values())
            )
        }
    policies: dict[str | None, iam.Policy] = {
        None: task_token_answers(scope, roles("job_events", "reconcile"), list(state_machines.values()))
    }
    for team, submit in functions.team_submits.items():
        policies[team] = task_token_answers(
            scope,
            roles_of(submit),
            [state_machines[team]],
            policy_id=f"Team{str(team).capitalize()}SubmitTaskTokenAnswers",
        )
    return policies


def allow_workflow_to_notify(state_machine: sfn.StateMachine, key: kms.IKey) -> None:
    """Notify and NotifyFailure (which the catch path also ends in) publish to a topic encrypted
    with `key`. SNS asks KMS for a data key with the publisher's own credentials, so the
    publisher needs kms:GenerateDataKey* and kms:Decrypt on the key besides sns:Publish (SNS
    Developer Guide, "Key management" > "Configuring AWS KMS permissions",
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse);
    CDK's SnsPublish task grants only sns:Publish (aws-cdk issue 32303). The key policy's
    account statement delegates to IAM, so an identity statement is enough; kms:ViaService
    limits it to the calls SNS makes in this region for the role."""
    region = Stack.of(state_machine).region
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        )
    )


def allow_alarms_to_notify(topic: sns.Topic, key: kms.Key, alarm_name_prefix: str) -> None:
    """CloudWatch alarm actions publish to the encrypted topic as cloudwatch.amazonaws.com:
    the topic policy must allow that principal sns:Publish (enforce_ssl's policy holds only a
    Deny), and the key policy must allow it kms:GenerateDataKey* and kms:Decrypt, or the
    alarm history shows "CloudWatch Alarms does not have authorization to access the SNS
    topic encryption key" and nothing is sent. Sources: SNS Developer Guide, "Key management"
    > "Enable compatibility between event sources from AWS services and encrypted topics"
    (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services);
    AWS re:Post knowledge center "cloudwatch-configure-alarm-sns" (key policy) and
    "cloudwatch-receive-sns-for-alarm-trigger" (topic policy, aws:SourceArn for chosen alarms).
    Both statements admit only alarms named with the prefix in this account (confused deputy)."""
    stack = Stack.of(topic)
    cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:{alarm_name_prefix}*"
    conditions = {
        "ArnLike": {"aws:SourceArn": alarms},
        "StringEquals": {"aws:SourceAccount": stack.account},
    }
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AlarmsOfThisStackPublish",
            principals=[cloudwatch],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AlarmsOfThisStackEncryptNotifications",
            principals=[cloudwatch],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy "*" means this key
            conditions=conditions,
        )
    )
