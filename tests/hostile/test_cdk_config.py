"""Bad CDK configuration values: refused by DtrainConfig before any synth, one line per error
naming the key (not 65 CloudFormation errors after 26 s of synth and a jsii traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtrain.config import ConfigErrors, DtrainConfig

ROOT = Path(__file__).resolve().parents[2]
CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
ENV = {"account": "123456789012", "region": "us-east-1"}

BAD_CONFIGS: dict[str, tuple[dict[str, Any], str, str]] = {
    "tags-51": ({"tags": {f"team{i}": "x" for i in range(51)}}, "tags", "50 tags"),
    "tag-value-257": ({"tags": {"project": "x" * 257}}, "tags.project", "256"),
    "tag-value-newline": ({"tags": {"project": "a\nb"}}, "tags.project", "no newline"),
    "tag-value-control": ({"tags": {"project": "a\x07b"}}, "tags.project", "not a valid tag value"),
    "tag-key-aws": ({"tags": {"aws:owner": "me"}}, "tags", "aws: prefix"),
    "tag-key-empty": ({"tags": {"": "me"}}, "tags", "tag key"),
    "az-other-region": (
        {**ENV, "network.availability_zones": ["us-east-1a", "eu-west-1b"]},
        "network.availability_zones",
        "region us-east-1",
    ),
    "az-mixed-regions": (
        {"network.availability_zones": ["us-east-1a", "us-west-2a"]},
        "network.availability_zones",
        "mixes regions",
    ),
    "az-not-a-zone": ({"network.availability_zones": ["moon-1"]}, "network.availability_zones", "zone"),
    "unknown-top-level": ({"stack_prefx": "Mine"}, "stack_prefx", "did you mean stack_prefix"),
    "unknown-section-key": ({"fsx.capacity": 1200}, "fsx.capacity", "not a known configuration key"),
    "region-invalid": ({"account": "123456789012", "region": "mars-1"}, "region", "region name"),
    "prefix-long": ({"stack_prefix": "P" * 40}, "stack_prefix", "1-20"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_value_is_one_error_naming_the_key(case: str) -> None:
    overrides, key, needle = BAD_CONFIGS[case]
    with pytest.raises(ConfigErrors) as caught:
        DtrainConfig.from_context({**CONTEXT, **overrides})
    errors = caught.value.errors
    assert [e.key for e in errors] == [key], str(caught.value)
    line = str(errors[0])
    assert needle in line and "\n" not in line and len(line) < 300


def test_cdk_own_context_keys_are_not_unknown() -> None:
    cdk_keys = {
        "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
        "aws:cdk:enable-path-metadata": True,
        "acknowledged-issue-numbers": [12345],
        "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
    }
    DtrainConfig.from_context({**CONTEXT, **cdk_keys})


def test_app_py_fails_before_the_cdk_starts_with_one_line_per_error(tmp_path: Path) -> None:
    context = {
        **CONTEXT,
        "tags": {"project": "a\nb", **{f"t{i}": "x" for i in range(60)}},
        "stack_prefx": "X",
    }
    outdir = tmp_path / "cdk.out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
             "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "invalid dtrain configuration (3 error(s)):"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == ["stack_prefx", "tags", "tags.project"]
    assert not (outdir / "manifest.json").exists()
    assert "jsii" not in done.stderr  # refused before the CDK (and its Node.js) started
