"""Condition keys whose variable part follows a colon, made evaluable by the engine.

@cloud-copilot/iam-simulate matches a key with a variable (`aws:PrincipalTag/${TagKey}`) by the
part before its first slash; a key whose variable follows a colon, such as KMS's
`kms:EncryptionContext:${EncryptionContextKey}` (`kms:EncryptionContext:aws:logs:arn`, which
CloudWatch Logs passes and a key policy names to admit one log group only, CloudWatch Logs User
Guide, "Encrypt log data in CloudWatch Logs using AWS KMS"), is dropped from the request in
strict mode, so a condition on it never matched and the key policy refused CloudWatch Logs.

Both the policies and the request name the key under one stand-in of the slash form the engine
evaluates (a global tag key, typed String like the KMS key); the operator and the values are
left as they are, so the decision is the one AWS makes on the real key.
"""

from __future__ import annotations

import json
import re
from typing import Any

_COLON_VARIABLE = re.compile(r"(?i)^kms:encryptioncontext:(.+)$")
STAND_IN = "aws:ResourceTag/kms-encryption-context:"


def stand_in(key: str) -> str:
    match = _COLON_VARIABLE.match(key)
    return f"{STAND_IN}{match.group(1)}" if match else key


def policy_with_stand_ins(policy: Any) -> Any:
    """The policy (a document or its JSON text) with such keys renamed in every Condition."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    if not isinstance(document, dict) or "encryptioncontext:" not in json.dumps(document).lower():
        return policy
    statements = document.get("Statement", [])
    renamed = []
    for statement in statements if isinstance(statements, list) else [statements]:
        condition = statement.get("Condition") if isinstance(statement, dict) else None
        if isinstance(condition, dict):
            statement = {
                **statement,
                "Condition": {
                    op: {stand_in(k): v for k, v in block.items()} if isinstance(block, dict) else block
                    for op, block in condition.items()
                },
            }
        renamed.append(statement)
    return {**document, "Statement": renamed}
