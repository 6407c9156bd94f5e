"""The key-policy statement that lets CloudWatch Logs encrypt named log groups with a key.

CloudWatch Logs encrypts a log group with a customer-managed key as logs.<region>.amazonaws.com,
passing the group's ARN as encryption context; the statement names the groups in
kms:EncryptionContext:aws:logs:arn, so no other log group in the account may use the key
(CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS", step 2 of
"Create a KMS key", the condition "limits use of the key to the specified log group";
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
Used by the network stack (the flow-log group) and the orchestration (its Lambdas' and state
machine's groups).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

# What CloudWatch Logs asks of the key (the guide's key policy, as written there).
LOGS_KEY_ACTIONS = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)


def allow_log_groups_to_encrypt(key: kms.Key, *, sid: str, log_groups: str | Sequence[str]) -> None:
    """Admit CloudWatch Logs to `key` for these log group names (a name may end in `*`); one name
    is written as a string, several as a list."""
    stack = Stack.of(key)
    head = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
    arns: str | list[str] = (
        f"{head}{log_groups}" if isinstance(log_groups, str) else [f"{head}{name}" for name in log_groups]
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=list(LOGS_KEY_ACTIONS),
            resources=["*"],  # in a key policy "*" means this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arns}},
        )
    )
