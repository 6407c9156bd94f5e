"""Deterministic, valid, collision-free job names."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtrain.jobspec.naming import JOB_NAME_PATTERN, MAX_JOB_NAME_LENGTH, is_valid_job_name, job_name_for


def test_same_identity_same_name() -> None:
    a = job_name_for("cifar10-ddp", execution_name="exec-1", retry_count=1, redrive_count=0, prefix="dtrain")
    b = job_name_for("cifar10-ddp", execution_name="exec-1", retry_count=1, redrive_count=0, prefix="dtrain")
    assert a == b
    assert a.startswith("dtrain-cifar10-ddp-")


def test_every_identity_component_changes_the_name() -> None:
    names = {
        job_name_for("base", execution_name=e, retry_count=r, redrive_count=d, prefix="dtrain")
        for e, r, d in itertools.product(["e1", "e2"], [0, 1, 2], [0, 1])
    }
    assert len(names) == 12


def test_long_base_is_cut_but_prefix_and_hash_kept() -> None:
    base = "x" * 200
    a = job_name_for(base, execution_name="a", prefix="dtrain")
    b = job_name_for(base + "y", execution_name="a", prefix="dtrain")
    assert len(a) == MAX_JOB_NAME_LENGTH and a.startswith("dtrain-")
    assert a != b  # the readable parts are equal after the cut; the hash tells them apart


def test_prefix_is_not_doubled() -> None:
    assert job_name_for("dtrain-job", execution_name="a", prefix="dtrain").startswith("dtrain-job-")
    assert not job_name_for("dtrain-job", execution_name="a", prefix="dtrain").startswith("dtrain-dtrain")


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        job_name_for("b", execution_name="e", retry_count=-1)


@given(
    base=st.text(max_size=120),
    execution=st.text(max_size=90),
    retry=st.integers(min_value=0, max_value=10_000),
    redrive=st.integers(min_value=0, max_value=10_000),
    prefix=st.sampled_from(["", "dtrain", "team-a", "x_y z"]),
)
def test_any_input_gives_a_valid_name(
    base: str, execution: str, retry: int, redrive: int, prefix: str
) -> None:
    name = job_name_for(
        base, execution_name=execution, retry_count=retry, redrive_count=redrive, prefix=prefix
    )
    assert is_valid_job_name(name)
    assert JOB_NAME_PATTERN.fullmatch(name)
    assert len(name) <= MAX_JOB_NAME_LENGTH
