"""The decision cache (authorizer.PolicyShape): a decision is reused for another resource only
when the policies cannot tell the two apart (the same Resource/NotResource patterns match
both), so enforcement costs one engine call per distinct situation, not per job or object."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dtrain.emulator.authz.authorizer import AccessDenied, Authorizer, PolicyShape, Principal
from dtrain.emulator.authz.calls import Check
from dtrain.emulator.authz.moto_state import parsed_policy

ACCT = "123456789012"
ROLE = f"arn:aws:iam::{ACCT}:role/submit"
JOBS = f"arn:aws:sagemaker:us-east-1:{ACCT}:training-job/dtrain-*"
POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob",'
    f' "Resource": "{JOBS}"}}]}}'
)


def job(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCT}:training-job/{name}"


def test_resources_matching_the_same_patterns_share_a_key() -> None:
    shape = PolicyShape.of([parsed_policy(POLICY)])
    assert shape.resource_key(job("dtrain-a")) == shape.resource_key(job("dtrain-b"))
    assert shape.resource_key(job("dtrain-a")) != shape.resource_key(job("other-a"))
    # Another service, account or resource type is never the same situation.
    other_account = job("dtrain-a").replace(ACCT, "210987654321")
    assert shape.resource_key(job("dtrain-a")) != shape.resource_key(other_account)


def test_policy_variables_and_session_names_keep_exact_keys() -> None:
    with_variable = parsed_policy(POLICY.replace("dtrain-*", "${aws:username}-*"))
    shape = PolicyShape.of([with_variable])
    assert shape.has_variables and shape.session_sensitive
    assert shape.resource_key(job("dtrain-a")) == job("dtrain-a")
    assert not PolicyShape.of([parsed_policy(POLICY)]).session_sensitive


@dataclass
class OneRoleState:
    account: str = ACCT

    def identity_policies(self, role_arn: str) -> list[tuple[str, Any]]:
        return [("inline/p", parsed_policy(POLICY))] if role_arn == ROLE else []


@pytest.fixture
def authz() -> Iterator[Authorizer]:
    active = Authorizer(OneRoleState())  # type: ignore[arg-type]
    yield active
    active.close()


def test_a_new_jobs_resource_reuses_the_decision_and_an_outside_one_does_not(authz: Authorizer) -> None:
    principal = Principal(ROLE, session="SubmitJob")
    for name in ("dtrain-job-1", "dtrain-job-2", "dtrain-job-3"):
        authz.check(principal, Check("sagemaker:DescribeTrainingJob", job(name)), "sagemaker")
    assert authz.engine_calls == 1
    with pytest.raises(AccessDenied):
        authz.check(principal, Check("sagemaker:DescribeTrainingJob", job("other-job")), "sagemaker")
    assert authz.engine_calls == 2
