"""What the SageMaker execution role needs to host a model, besides what training needs.

A model (CreateModel's ExecutionRoleArn) is served by an endpoint or runs a transform job as
the execution role: SageMaker pulls its inference image, reads the model data (the training
job's model.tar.gz, under the artifacts bucket's job prefix the role reads already), a
transform job reads its input (the data bucket, read already) and writes its `.out` files
(under the artifacts prefix, written already), with the stack key (granted already). What is
new: the inference images' repositories and the endpoint and transform-job log groups
("CloudWatch Logs for Amazon SageMaker AI": /aws/sagemaker/Endpoints/<endpoint>,
/aws/sagemaker/TransformJobs; "SageMaker AI Roles" > CreateModel API: Execution Role
Permissions, https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnMapping, Stack
from aws_cdk import aws_iam as iam

from dtrain.jobspec.inference_images import DLC_ACCOUNTS, INFERENCE_IMAGES

ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"

# The AWS Deep Learning Containers registry of the inference images (PyTorch inference,
# TensorFlow Serving) the core looks up (dtrain.jobspec.inference_images): its account differs per region
# (AWS's published table, inference_images.DLC_ACCOUNTS). The stack may be region-agnostic, so the
# account is looked up in a template mapping by the deploying region (resolved at synth time when
# the stack's region is known); a region without Deep Learning Containers fails the deploy there.
DLC_ACCOUNT_MAPPING = "DeepLearningContainerAccounts"
INFERENCE_REPOSITORIES = tuple(sorted(images.repository for images in INFERENCE_IMAGES.values()))


def dlc_account(scope: Stack) -> str:
    """The deploying region's Deep Learning Containers account (a token when region-agnostic)."""
    found = scope.node.try_find_child(DLC_ACCOUNT_MAPPING)
    mapping = (
        found
        if isinstance(found, CfnMapping)
        else CfnMapping(
            scope,
            DLC_ACCOUNT_MAPPING,
            mapping={region: {"account": account} for region, account in sorted(DLC_ACCOUNTS.items())},
            lazy=True,
        )
    )
    # The stack's own region: a literal with an explicit environment (the mapping then resolves
    # at synth time), else the AWS::Region token.
    return mapping.find_in_map(scope.region, "account")


def add_hosting_permissions(role: iam.IRole, endpoint_prefix: str | None = None) -> None:
    """`endpoint_prefix`: a team's role writes only its endpoints' log groups
    (`/aws/sagemaker/Endpoints/<prefix>-<team>-*`); None: every endpoint's (no teams)."""
    account = dlc_account(Stack.of(role))
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PullInferenceImages",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[
                f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:repository/{repo}"
                for repo in INFERENCE_REPOSITORIES
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="InferenceImageRegistryLogin",
            actions=["ecr:GetAuthorizationToken"],
            # AWS requires "*": GetAuthorizationToken has no resource-level permissions.
            resources=["*"],
        )
    )
    logs = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group"
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="HostingLogs",
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[
                # One log group per endpoint, named after it: endpoint names are the user's.
                f"{logs}:{ENDPOINT_LOG_GROUP}/{endpoint_prefix}-*"
                if endpoint_prefix
                else f"{logs}:{ENDPOINT_LOG_GROUP}/*",
                f"{logs}:{TRANSFORM_LOG_GROUP}",
                f"{logs}:{TRANSFORM_LOG_GROUP}:*",
            ],
        )
    )
