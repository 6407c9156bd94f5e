"""The IAM evaluation rules the emulator relies on, one test per rule of the IAM documentation.

Source of each rule: the IAM User Guide, "Policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
"IAM JSON policy elements: Condition operators" and "...: Variables", and the KMS Developer
Guide, "Key policies in AWS KMS" (root delegation).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dtrain.emulator.authz.engine import EngineError, PolicyEngine, Request

ACCT = "123456789012"
ROLE = f"arn:aws:iam::{ACCT}:role/worker"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/worker/session"
BUCKET = "arn:aws:s3:::data"
TOPIC = f"arn:aws:sns:us-east-1:{ACCT}:notify"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def engine() -> Iterator[PolicyEngine]:
    eng = PolicyEngine()
    yield eng
    eng.close()


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def req(action: str, resource: str, principal: str = SESSION, **context: Any) -> Request:
    ctx = (
        {"aws:PrincipalArn": ROLE, "aws:PrincipalAccount": ACCT, **context}
        if principal == SESSION
        else context
    )
    return Request(
        principal,
        action,
        resource,
        ACCT,
        tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in ctx.items()),
    )


def decide(engine: PolicyEngine, request: Request, identity: Any = None, resource: Any = None) -> str:
    ids = [("inline", identity)] if identity is not None else []
    return engine.decide(request, ids, resource).result


def test_implicit_deny_when_no_policy_allows(engine: PolicyEngine) -> None:
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k")) == "ImplicitlyDenied"


def test_explicit_deny_overrides_any_allow(engine: PolicyEngine) -> None:
    identity = policy(allow("s3:*"), deny("s3:GetObject", f"{BUCKET}/secret/*"))
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/secret/k"), identity) == "ExplicitlyDenied"
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/public/k"), identity) == "Allowed"


def test_same_account_identity_or_resource_policy_allow_suffices(engine: PolicyEngine) -> None:
    bucket_policy = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ROLE}))
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k"), None, bucket_policy) == "Allowed"
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k"), policy(allow("s3:GetObject"))) == "Allowed"


def test_resource_policy_deny_overrides_identity_allow(engine: PolicyEngine) -> None:
    # The shape `enforce_ssl` gives bucket and topic policies.
    ssl_only = policy(
        deny(
            "s3:*",
            [BUCKET, f"{BUCKET}/*"],
            Principal={"AWS": "*"},
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        )
    )
    identity = policy(allow("s3:GetObject"))
    over_tls = req("s3:GetObject", f"{BUCKET}/k", **{"aws:SecureTransport": "true"})
    plain = req("s3:GetObject", f"{BUCKET}/k", **{"aws:SecureTransport": "false"})
    assert decide(engine, over_tls, identity, ssl_only) == "Allowed"
    assert decide(engine, plain, identity, ssl_only) == "ExplicitlyDenied"


def test_key_policy_without_root_delegation_ignores_iam_policies(engine: PolicyEngine) -> None:
    identity = policy(allow("kms:Decrypt", KEY))
    only_logs = policy(allow("kms:*", Principal={"Service": "logs.amazonaws.com"}))
    delegating = policy(allow("kms:*", Principal={"AWS": f"arn:aws:iam::{ACCT}:root"}))
    assert decide(engine, req("kms:Decrypt", KEY), identity, only_logs) == "ImplicitlyDenied"
    assert decide(engine, req("kms:Decrypt", KEY), identity, delegating) == "Allowed"
    # Root delegation alone grants nothing: the IAM policy must still allow.
    assert decide(engine, req("kms:Decrypt", KEY), policy(allow("s3:*")), delegating) == "ImplicitlyDenied"


def test_key_policy_may_allow_a_role_directly(engine: PolicyEngine) -> None:
    direct = policy(allow("kms:GenerateDataKey*", Principal={"AWS": ROLE}))
    assert decide(engine, req("kms:GenerateDataKey", KEY), None, direct) == "Allowed"


def test_trust_policy_admits_the_service_principal(engine: PolicyEngine) -> None:
    trust = policy(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
    )
    assert (
        decide(engine, req("sts:AssumeRole", ROLE, principal="lambda.amazonaws.com"), None, trust)
        == "Allowed"
    )
    assert (
        decide(engine, req("sts:AssumeRole", ROLE, principal="states.amazonaws.com"), None, trust)
        == "ImplicitlyDenied"
    )


def test_passrole_condition_iam_passed_to_service(engine: PolicyEngine) -> None:
    identity = policy(
        allow(
            "iam:PassRole",
            ROLE,
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    to_sagemaker = req("iam:PassRole", ROLE, **{"iam:PassedToService": "sagemaker.amazonaws.com"})
    to_ec2 = req("iam:PassRole", ROLE, **{"iam:PassedToService": "ec2.amazonaws.com"})
    assert decide(engine, to_sagemaker, identity) == "Allowed"
    assert decide(engine, to_ec2, identity) == "ImplicitlyDenied"


def test_not_action_and_not_resource(engine: PolicyEngine) -> None:
    identity = policy(
        {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]},
    )
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k"), identity) == "Allowed"
    assert decide(engine, req("s3:DeleteObject", f"{BUCKET}/k"), identity) == "ImplicitlyDenied"
    assert decide(engine, req("s3:GetObject", "arn:aws:s3:::other/k"), identity) == "ExplicitlyDenied"


def test_not_principal_deny_spares_only_the_named_principal(engine: PolicyEngine) -> None:
    topic_policy = policy(
        allow("sns:Publish", TOPIC, Principal={"AWS": f"arn:aws:iam::{ACCT}:root"}),
        {"Effect": "Deny", "Action": "sns:Publish", "Resource": TOPIC, "NotPrincipal": {"AWS": ROLE}},
    )
    identity = policy(allow("sns:Publish"))
    assert decide(engine, req("sns:Publish", TOPIC), identity, topic_policy) == "Allowed"
    other = Request(f"arn:aws:sts::{ACCT}:assumed-role/other/s", "sns:Publish", TOPIC, ACCT)
    assert engine.decide(other, [("p", identity)], topic_policy).result == "ExplicitlyDenied"


def test_condition_key_missing_fails_a_positive_operator(engine: PolicyEngine) -> None:
    identity = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "jobs/*"}}))
    assert decide(engine, req("s3:ListBucket", BUCKET, **{"s3:prefix": "jobs/a"}), identity) == "Allowed"
    assert decide(engine, req("s3:ListBucket", BUCKET), identity) == "ImplicitlyDenied"


def test_negated_operator_matches_when_the_key_is_missing(engine: PolicyEngine) -> None:
    identity = policy(
        allow("s3:GetObject"),
        deny("s3:GetObject", Condition={"StringNotEquals": {"aws:SourceAccount": ACCT}}),
    )
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k"), identity) == "ExplicitlyDenied"
    assert (
        decide(engine, req("s3:GetObject", f"{BUCKET}/k", **{"aws:SourceAccount": ACCT}), identity)
        == "Allowed"
    )


def test_if_exists_matches_when_the_key_is_missing(engine: PolicyEngine) -> None:
    identity = policy(allow("s3:GetObject", Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCT}}))
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/k"), identity) == "Allowed"
    assert decide(
        engine, req("s3:GetObject", f"{BUCKET}/k", **{"aws:SourceAccount": "999999999999"}), identity
    ) == ("ImplicitlyDenied")


def test_null_operator_tests_presence(engine: PolicyEngine) -> None:
    identity = policy(allow("sns:Publish", Condition={"Null": {"aws:SourceArn": "false"}}))
    assert decide(engine, req("sns:Publish", TOPIC), identity) == "ImplicitlyDenied"
    assert (
        decide(engine, req("sns:Publish", TOPIC, **{"aws:SourceArn": "arn:aws:events:::x"}), identity)
        == "Allowed"
    )


def test_for_any_value_and_for_all_values_on_multivalued_keys(engine: PolicyEngine) -> None:
    any_of = policy(allow("s3:GetObject", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}))
    all_of = policy(
        allow("s3:GetObject", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}})
    )
    mixed = req("s3:GetObject", f"{BUCKET}/k", **{"aws:TagKeys": ["team", "owner"]})
    subset = req("s3:GetObject", f"{BUCKET}/k", **{"aws:TagKeys": ["team"]})
    assert decide(engine, mixed, any_of) == "Allowed"
    assert decide(engine, mixed, all_of) == "ImplicitlyDenied"
    assert decide(engine, subset, all_of) == "Allowed"


def test_policy_variables_are_substituted(engine: PolicyEngine) -> None:
    identity = policy(allow("s3:GetObject", f"{BUCKET}/${{aws:PrincipalAccount}}/*"))
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/{ACCT}/k"), identity) == "Allowed"
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/999999999999/k"), identity) == "ImplicitlyDenied"


def test_actions_are_case_insensitive_arns_case_sensitive(engine: PolicyEngine) -> None:
    identity = policy(allow("S3:getobject", f"{BUCKET}/Data/*"))
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/Data/k"), identity) == "Allowed"
    assert decide(engine, req("s3:GetObject", f"{BUCKET}/data/k"), identity) == "ImplicitlyDenied"


def test_service_principal_with_source_arn_condition(engine: PolicyEngine) -> None:
    fn = f"arn:aws:lambda:us-east-1:{ACCT}:function:f"
    rule = f"arn:aws:events:us-east-1:{ACCT}:rule/jobs"
    permission = policy(
        allow(
            "lambda:InvokeFunction",
            fn,
            Principal={"Service": "events.amazonaws.com"},
            Condition={"ArnLike": {"AWS:SourceArn": rule}},
        )
    )
    ok = req("lambda:InvokeFunction", fn, principal="events.amazonaws.com", **{"aws:SourceArn": rule})
    wrong = req(
        "lambda:InvokeFunction", fn, principal="events.amazonaws.com", **{"aws:SourceArn": rule + "-other"}
    )
    assert decide(engine, ok, None, permission) == "Allowed"
    assert decide(engine, wrong, None, permission) == "ImplicitlyDenied"


def test_kms_via_service_and_caller_account(engine: PolicyEngine) -> None:
    key_policy = policy(
        allow(
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            Principal={"AWS": "*"},
            Condition={
                "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": ACCT}
            },
        )
    )
    via_sns = req(
        "kms:Decrypt", KEY, **{"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": ACCT}
    )
    direct = req("kms:Decrypt", KEY, **{"kms:CallerAccount": ACCT})
    assert decide(engine, via_sns, None, key_policy) == "Allowed"
    assert decide(engine, direct, None, key_policy) == "ImplicitlyDenied"


def test_invalid_policy_is_an_engine_error(engine: PolicyEngine) -> None:
    with pytest.raises(EngineError, match="s3:GetObject"):
        engine.decide(req("s3:GetObject", f"{BUCKET}/k"), [("bad", {"Statement": [{"Effect": "Maybe"}]})])


def test_a_key_policy_naming_one_log_group_by_its_encryption_context_admits_that_group_only(
    engine: PolicyEngine,
) -> None:
    """CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS": the
    condition on kms:EncryptionContext:aws:logs:arn limits the key to the named log groups (the
    engine drops colon-variable keys; dtrain.emulator.authz.context_keys makes it evaluate them)."""
    head = f"arn:aws:logs:us-east-1:{ACCT}:log-group:"
    logs_only = policy(
        allow(
            "kms:Encrypt*",
            Principal={"Service": "logs.us-east-1.amazonaws.com"},
            Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [f"{head}/dtrain/Stack/*"]}},
        )
    )

    def encrypt_for(group: str) -> Request:
        context = (("kms:EncryptionContext:aws:logs:arn", f"{head}{group}"),)
        return Request("logs.us-east-1.amazonaws.com", "kms:Encrypt", KEY, ACCT, context)

    assert engine.decide(encrypt_for("/dtrain/Stack/SubmitJob"), [], logs_only).result == "Allowed"
    assert engine.decide(encrypt_for("/someone/else"), [], logs_only).result == "ImplicitlyDenied"
