"""What services do on their own with the deployed resources, checked once after deploy.

The emulator runs no alarm and writes no encrypted log group, so the service principals'
own calls are checked against the deployed policies instead, as AWS would make them:

- A CloudWatch alarm's SNS action publishes as cloudwatch.amazonaws.com (aws:SourceArn = the
  alarm): the topic policy must allow sns:Publish and, for an encrypted topic, the key policy
  kms:GenerateDataKey* and kms:Decrypt (SNS Developer Guide, "Key management", compatibility
  with AWS services). AWS drops the notification otherwise; here the refusal is recorded.
- A log group with a KMS key is written by logs.<region>.amazonaws.com: the key policy must
  allow it kms:Encrypt*, kms:Decrypt*, kms:GenerateDataKey* (CloudWatch Logs User Guide,
  "Encrypt log data in CloudWatch Logs using AWS KMS"); AWS refuses CreateLogGroup otherwise.
"""

from __future__ import annotations

from dtrain.emulator.authz.authorizer import AccessDenied, Authorizer
from dtrain.emulator.authz.calls import Check
from dtrain.emulator.authz.moto_state import resolved_resources

_TYPES = frozenset({"AWS::CloudWatch::Alarm", "AWS::Logs::LogGroup"})


def check_service_principals(authz: Authorizer) -> list[str]:
    """Refusal messages (also in authz.refusals) for what services would be refused."""
    state = authz.state
    refused: list[str] = []

    def attempt(service: str, check: Check, source_arn: str, what: str) -> None:
        try:
            authz.service_acts(service, check, source_arn=source_arn)
        except AccessDenied as denied:
            refused.append(f"{what}: {denied.message}")

    for stack, logical_id, kind, props in resolved_resources(state.account, state.region, _TYPES):
        if kind == "AWS::CloudWatch::Alarm":
            # CloudFormation names an unnamed alarm <stack>-<logical id>-<suffix>.
            name = props.get("AlarmName") or f"{stack}-{logical_id}-EMULATED"
            alarm_arn = f"arn:aws:cloudwatch:{state.region}:{state.account}:alarm:{name}"
            for action in props.get("AlarmActions", []) + props.get("OKActions", []):
                if not str(action).startswith("arn:aws:sns:"):
                    continue
                topic = str(action)
                what = f"alarm {name} notifying {topic}"
                attempt(
                    "cloudwatch.amazonaws.com", Check("sns:Publish", topic, "topic", topic), alarm_arn, what
                )
                key = state.topic_kms_key(topic)
                found = state.key(key) if key else None
                if found is not None:
                    for action_name in ("kms:GenerateDataKey", "kms:Decrypt"):
                        check = Check(action_name, found[0], "key", found[0])
                        attempt("cloudwatch.amazonaws.com", check, alarm_arn, what)
        elif kind == "AWS::Logs::LogGroup" and props.get("KmsKeyId"):
            found = state.key(str(props["KmsKeyId"]))
            if found is None:
                continue
            group = props.get("LogGroupName") or logical_id
            group_arn = f"arn:aws:logs:{state.region}:{state.account}:log-group:{group}"
            context = (("kms:EncryptionContext:aws:logs:arn", group_arn),)
            for action_name in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
                check = Check(action_name, found[0], "key", found[0], context)
                attempt(f"logs.{state.region}.amazonaws.com", check, group_arn, f"log group {group}")
    return refused
