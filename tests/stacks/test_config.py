"""The typed platform config: defaults, coercion of `-c` strings, and one named error per bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtrain.config import DEFAULTS, ConfigError, ConfigErrors, DtrainConfig

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def errors_for(overrides: dict[str, Any]) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as caught:
        DtrainConfig.from_context({**cdk_json_context(), **overrides})
    return caught.value.errors


def test_cdk_json_context_gives_the_documented_defaults() -> None:
    config = DtrainConfig.from_context(cdk_json_context())
    assert config.account is None and config.region is None and not config.explicit_env
    assert config.bootstrap_rule and not config.emulator
    assert config.retain
    assert config.fsx.deployment_type == "PERSISTENT_2"
    assert config.fsx.storage_capacity_gib == 1200
    assert config.network.vpc_id is None and config.network.max_azs == 2
    assert config.network.nat_gateways == 0
    assert config.network.jobs_in_vpc  # jobs get the platform's VpcConfig unless turned off


def test_cdk_json_repeats_every_default() -> None:
    # A reader finds every knob in cdk.json; the unset ones (null) are documented in docs/platform-team.md.
    context = cdk_json_context()
    for key, value in DEFAULTS.items():
        if value is not None:
            assert context[key] == value, key


def test_command_line_strings_are_coerced() -> None:
    config = DtrainConfig.from_context(
        {
            "fsx.storage_capacity_gib": "4800",
            "fsx.throughput_per_tib": "250",
            "efs.enabled": "false",
            "emulator": "true",
            "removal_policy": "destroy",
            "tags": '{"team": "ml"}',
            "account": "123456789012",
            "region": "eu-west-1",
            "network.availability_zones": "eu-west-1a,eu-west-1b",
        }
    )
    assert config.fsx.storage_capacity_gib == 4800
    assert config.fsx.throughput_per_tib == 250
    assert not config.efs.enabled
    assert config.emulator and not config.bootstrap_rule
    assert not config.retain
    assert config.tags == {"team": "ml"}
    assert config.explicit_env
    assert config.network.availability_zones == ("eu-west-1a", "eu-west-1b")


@pytest.mark.parametrize("capacity", [1200, 2400, 4800, 7200, 24000])
def test_valid_lustre_capacities(capacity: int) -> None:
    assert (
        DtrainConfig.from_context({"fsx.storage_capacity_gib": capacity}).fsx.storage_capacity_gib == capacity
    )


def test_the_issue_example_message_is_exact() -> None:
    (error,) = errors_for({"fsx.storage_capacity_gib": 1000})
    assert str(error) == "fsx.storage_capacity_gib: 1000 is not 1200, 2400 or a multiple of 2400"
    assert (error.key, error.value, error.rule) == (
        "fsx.storage_capacity_gib",
        1000,
        "is not 1200, 2400 or a multiple of 2400",
    )


BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    (
        {"fsx.storage_capacity_gib": 3600},
        "fsx.storage_capacity_gib",
        "3600 is not 1200, 2400 or a multiple of 2400",
    ),
    ({"fsx.storage_capacity_gib": "lots"}, "fsx.storage_capacity_gib", "lots is not an integer"),
    ({"fsx.throughput_per_tib": 200}, "fsx.throughput_per_tib", "200 is not 125, 250, 500 or 1000"),
    (
        {"fsx.deployment_type": "PERSISTENT_1"},
        "fsx.deployment_type",
        "PERSISTENT_1 is not PERSISTENT_2 or SCRATCH_2",
    ),
    ({"fsx.s3_prefix": "datasets"}, "fsx.s3_prefix", "datasets is not an S3 key prefix ending in /"),
    ({"fsx.file_system_path": "data"}, "fsx.file_system_path", "data is not an absolute path below /"),
    ({"fsx.enabled": "maybe"}, "fsx.enabled", "maybe is not true or false"),
    ({"efs.enabled": 1}, "efs.enabled", "1 is not true or false"),
    ({"removal_policy": "snapshot"}, "removal_policy", "snapshot is not retain or destroy"),
    (
        {"notification_email": "ops-at-example"},
        "notification_email",
        "ops-at-example is not an e-mail address",
    ),
    ({"tags": "[1, 2]"}, "tags", "[1, 2] is not an object of string values"),
    ({"tags": {"aws:owner": "x"}}, "tags", "aws:owner is not a valid tag key"),
    ({"stack_prefix": "9lives"}, "stack_prefix", "9lives is not 1-20 letters/digits starting with a letter"),
    ({"account": "12345", "region": "us-east-1"}, "account", "12345 is not a 12-digit AWS account id"),
    ({"account": "123456789012", "region": "Mars-1"}, "region", "Mars-1 is not an AWS region name"),
    ({"account": "123456789012"}, "region", "null must be set together with account"),
    ({"network.vpc_cidr": "10.0.0.0/33"}, "network.vpc_cidr", "10.0.0.0/33 is not an IPv4 CIDR block"),
    ({"network.vpc_cidr": "10.0.0.0/8"}, "network.vpc_cidr", "10.0.0.0/8 is not a block between /16 and /24"),
    ({"network.max_azs": 0}, "network.max_azs", "0 is not between 1 and 6"),
    ({"network.nat_gateways": 9}, "network.nat_gateways", "9 is not between 0 and 6"),
    ({"network.vpc_id": "vpc-xyz"}, "network.vpc_id", "vpc-xyz is not a VPC id"),
    (
        {"network.flow_log_retention_days": 10},
        "network.flow_log_retention_days",
        "10 is not a CloudWatch Logs",
    ),
    (
        {"network.availability_zones": ["moon-1"]},
        "network.availability_zones",
        "moon-1 is not an availability zone",
    ),
    (
        {"storage.checkpoint_noncurrent_days": 0},
        "storage.checkpoint_noncurrent_days",
        "0 is not between 1 and 3650",
    ),
    ({"fsx.storage_capcity_gib": 1200}, "fsx.storage_capcity_gib", "1200 is not a known configuration key"),
    (
        {"account": "123456789012", "region": "us-east-1"},
        "network.availability_zones",
        "[] must name at least network.max_azs (2) zones when account and region are set",
    ),
    (
        {"network.private_subnet_ids": ["subnet-0123456789abcdef0"]},
        "network.private_subnet_ids",
        "is only allowed with network.vpc_id",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "message"), BAD_VALUES, ids=[b[1] + ":" + b[2][:24] for b in BAD_VALUES]
)
def test_each_bad_value_gives_its_named_error(overrides: dict[str, Any], key: str, message: str) -> None:
    errors = errors_for(overrides)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    assert message in str(errors[0])
    assert str(errors[0]).startswith(f"{key}: ")


def test_an_imported_vpc_must_be_described_completely() -> None:
    errors = errors_for({"network.vpc_id": "vpc-0123456789abcdef0"})
    assert {e.key for e in errors} == {"network.private_subnet_ids"}
    errors = errors_for(
        {
            "network.vpc_id": "vpc-0123456789abcdef0",
            "network.private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "network.availability_zones": ["us-east-1a"],
        }
    )
    assert {e.key for e in errors} == {"network.availability_zones", "network.private_route_table_ids"}


def test_all_errors_are_reported_in_one_pass() -> None:
    errors = errors_for(
        {"fsx.storage_capacity_gib": 1000, "fsx.throughput_per_tib": 7, "removal_policy": "x"}
    )
    assert [e.key for e in errors] == ["removal_policy", "fsx.storage_capacity_gib", "fsx.throughput_per_tib"]


def test_cdk_synth_fails_with_the_named_error_and_no_traceback() -> None:
    # The app's entry point as the CDK CLI runs it, with a bad -c override (CDK_CONTEXT_JSON).
    context = {**cdk_json_context(), "fsx.storage_capacity_gib": "1000"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "fsx.storage_capacity_gib: 1000 is not 1200, 2400 or a multiple of 2400" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_apps_own_context_keys_are_left_alone() -> None:
    # A platform team's app keeps its own keys beside ours: DtrainConfig.from_context(app's context).
    context = {**cdk_json_context(), "environment": "dev", "team_name": "ml", "cost.center": "42"}
    assert DtrainConfig.from_context(context).stack_prefix == "Dtrain"


def test_a_near_miss_of_a_dtrain_key_is_still_refused_as_a_typo() -> None:
    errors = errors_for({"stack_prefx": "Ml"})
    assert [e.key for e in errors] == ["stack_prefx"]
    assert "is not a known configuration key (did you mean stack_prefix?)" in str(errors[0])


def test_settings_under_a_dtrain_object_are_read_alone_and_every_key_in_it_is_ours() -> None:
    context = {
        "stack_prefix": "Ignored",
        "tags": "not ours",
        "dtrain": {"stack_prefix": "Ml", "fsx.enabled": False},
    }
    config = DtrainConfig.from_context(context)
    assert config.stack_prefix == "Ml" and not config.fsx.enabled
    assert dict(config.tags) == DEFAULTS["tags"]
    with pytest.raises(ConfigErrors) as caught:
        DtrainConfig.from_context({"dtrain": {"team_name": "ml"}})
    assert caught.value.keys() == ["team_name"]


def test_from_settings_gives_the_defaults_with_the_settings_on_top() -> None:
    config = DtrainConfig.from_settings({"network.flow_logs": False, "network.s3_gateway_endpoint": "false"})
    assert not config.network.flow_logs and not config.network.s3_gateway_endpoint
    assert DtrainConfig.from_settings().network.flow_logs
    with pytest.raises(ConfigErrors):
        DtrainConfig.from_settings({"environment": "dev"})
