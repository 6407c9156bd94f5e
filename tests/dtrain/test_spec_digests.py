"""The spec digests keep their outputs across the move into dtrain.jobspec.digests: names derived
from them must not change across an upgrade (a job submitted again keeps its execution name, a
retried Submit finds its job, ledger rows compare with older ones). The expected values were
computed by the three digests' old homes (ledger.spec_digest, execution_names.spec_digest,
request_paths.spec_digest) at c948c13, before the move."""

from __future__ import annotations

import ast
import datetime
from typing import Any

import pytest

from dtrain.jobspec import digests
from dtrain.jobspec.spec import parse_spec
from dtrain.remote.execution_names import execution_name_for
from dtrain.requests.training_request import build_training_job_request

from .conftest import REPO, minimal_spec

ODD = {"when": datetime.date(2026, 1, 2), "b": [1, "é"]}  # a value JSON has no type for, non-ASCII


def _spec() -> dict[str, Any]:
    spec = minimal_spec(
        tags={"équipe": "vision", "a": "b"},
        hyperparameters={"lr": 0.5, "layers": [3, 4], "note": None, "flag": True},
    )
    del spec["job_name"]
    return spec


def test_ledger_digest_is_unchanged() -> None:
    assert digests.ledger_spec_digest(_spec()) == (
        "e21402d71e1eef64ce8dd229effe765903899240e6b797774c5572e3b42dc318"
    )
    assert (
        digests.ledger_spec_digest(ODD) == "8d9b79dbf99cfea79bfe5eb8d090506e328789e7f7c5b68be7ac6cb407913f41"
    )


def test_execution_digest_and_names_are_unchanged() -> None:
    spec = _spec()
    assert digests.execution_spec_digest(spec) == (
        "ddaaf42d32e5885b6f57cbb83a089575a08bbc7ab59c453603d587798b5a0eef"
    )
    assert digests.execution_spec_digest(spec, "0123abcd") == (
        "497ad8946f1051d74c8c9c07b779e07c3c6a80893ee215cd8c15fac57aac11cd"
    )
    assert execution_name_for(spec) == "train-ddaaf42d32e5"
    assert execution_name_for(spec, source_digest="0123abcd") == "train-497ad8946f10"
    with pytest.raises(TypeError):  # refused, as before, rather than written as str()
        digests.canonical_json(ODD, digests.EXECUTION_FORM)


def test_execution_input_text_is_unchanged() -> None:
    """StartExecution's input: the same name with another input text is refused, not answered."""
    assert digests.canonical_json(_spec(), digests.EXECUTION_FORM) == (
        '{"estimator":{"entry_point":"train.py","hyperparameters":{"flag":true,"layers":[3,4],"lr":0.5,'
        '"note":null},"image_uri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0",'
        '"instance_count":2,"instance_type":"ml.g5.2xlarge","output_path":"s3://my-output/jobs",'
        '"role":"arn:aws:iam::123456789012:role/train-role",'
        '"source_dir":"s3://my-code/project/sourcedir.tar.gz","tags":{"a":"b","équipe":"vision"}},'
        '"framework":"pytorch"}'
    )


def test_request_digest_and_default_job_name_are_unchanged() -> None:
    spec = parse_spec(_spec())
    assert digests.request_spec_digest(spec.raw) == "5396564ad0"
    assert digests.request_spec_digest(ODD) == "d4dfe2d209"
    request = build_training_job_request(spec, None, region="eu-west-1")
    assert request["TrainingJobName"] == "my-trainer-c9022ac4fe"


def test_only_the_digests_module_hashes_json() -> None:
    """One source: no other function of dtrain/ both writes JSON and hashes it."""
    both = []
    for path in sorted((REPO / "dtrain").rglob("*.py")):
        if path == REPO / "dtrain" / "jobspec" / "digests.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                calls = {ast.unparse(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)}
                hashes = any(c.startswith("hashlib.") or c == "identity_digest" for c in calls)
                if hashes and ("json.dumps" in calls or "canonical_json" in calls):
                    both.append(f"{path.relative_to(REPO)}:{node.name}")
    assert both == []
