"""The estimator's `rules` (Debugger / Profiler built-in rules): what is refused, and why.

What is accepted is pinned field by field against SDK 2.220 in test_sdk_parity.py
(rules_* cases and the rule catalogue)."""

from __future__ import annotations

from typing import Any

import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.training_request import build_training_job_request
from tests.dtrain.conftest import minimal_spec


def _errors(rules: Any, **estimator: Any) -> list[str]:
    with pytest.raises((SpecError, SpecErrors)) as info:
        parse_spec(minimal_spec(rules=rules, **estimator))
    exc = info.value
    return [str(e) for e in exc] if isinstance(exc, SpecErrors) else [str(exc)]


def test_every_bad_rule_is_named_in_one_pass_with_reasons() -> None:
    errors = _errors(
        [
            {"debugger_rule": "vanishing_gradients"},
            {"debugger_rule": "loss_not_decreasing", "actions": [{"stop_training": {}}]},
            {"profiler_rule": "ProfilerReport", "rule_parameters": {"CPUBottlenek_threshold": 90}},
            {"profiler_rule": "BatchSize", "rule_parameters": {"windw": 100}},
            {"profiler_rule": "BatchSize", "instance_type": "ml.m5.xlarge"},
            {"debugger_rule": "all_zero", "rule_parameters": {"rule_to_invoke": "Other"}},
            {"image_uri": "my/rule:1", "source": "rule.py"},
        ]
    )
    assert any("rules[0].debugger_rule" in e and "did you mean 'vanishing_gradient'" in e for e in errors), (
        errors
    )
    assert any("rules[1].actions" in e and "not supported" in e for e in errors)
    assert any("rules[2].rule_parameters.CPUBottlenek_threshold" in e for e in errors)
    assert any("rules[3].rule_parameters.windw" in e and "did you mean 'window'" in e for e in errors)
    assert any("rules[4].instance_type" in e and "SDK 2.220 drops" in e for e in errors)
    assert any("rules[5].rule_parameters.rule_to_invoke" in e for e in errors)
    assert any("rules[6]" in e and "custom rule images are not supported" in e for e in errors)
    assert len(errors) == 7


def test_debugger_rule_parameters_are_strings_and_names_unique() -> None:
    assert any(
        "must be an object of string -> string" in e
        for e in _errors([{"debugger_rule": "overfit", "rule_parameters": {"patience": 3}}])
    )
    errors = _errors([{"debugger_rule": "overfit"}, {"debugger_rule": "overfit"}])
    assert any("names must be unique (give `name`)" in e for e in errors)
    parse_spec(
        minimal_spec(rules=[{"debugger_rule": "overfit"}, {"debugger_rule": "overfit", "name": "Overfit2"}])
    )


def test_profiler_rules_need_the_profiler() -> None:
    errors = _errors([{"profiler_rule": "ProfilerReport"}], disable_profiler=True)
    assert any("profiler rules need the profiler" in e for e in errors)
    # Debugger rules do not: they read the hook's tensors.
    parse_spec(minimal_spec(rules=[{"debugger_rule": "overfit"}], disable_profiler=True))


def test_rules_in_a_region_without_debugger_are_refused_before_any_call() -> None:
    spec = parse_spec(minimal_spec(rules=[{"debugger_rule": "overfit"}], debugger_hook_config=False))
    with pytest.raises((SpecError, SpecErrors), match="not available in this region"):
        build_training_job_request(spec, None, region="eu-south-2")


def test_the_json_schema_takes_rules_and_refuses_a_typo() -> None:
    import jsonschema

    from dtrain.jobspec.schema import job_spec_schema

    validator = jsonschema.Draft202012Validator(job_spec_schema())
    rules = [
        {"debugger_rule": "vanishing_gradient", "collections_to_save": [{"name": "gradients"}]},
        {"profiler_rule": "ProfilerReport", "rule_parameters": {"CPUBottleneck_threshold": 90}},
    ]
    doc = minimal_spec(rules=rules)
    parse_spec(doc)
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert not validator.is_valid(minimal_spec(rules=[{"debugger_rule": "vanishing_gradients"}]))
    assert not validator.is_valid(
        minimal_spec(rules=[{"profiler_rule": "BatchSize", "volume_size_in_gb": 30}])
    )


@pytest.mark.parametrize(
    ("estimator", "why"),
    [
        ({"debugger_hook_config": False}, "debugger_hook_config is false"),
        (
            {"checkpoint_s3_uri": "s3://my-ckpt/run", "checkpoint_local_path": "/opt/ml/checkpoints"},
            "checkpoint_local_path",
        ),
    ],
)
def test_debugger_rules_without_a_debug_hook_are_refused_not_a_silent_no_op(
    estimator: dict[str, Any], why: str
) -> None:
    spec = parse_spec(minimal_spec(rules=[{"debugger_rule": "overfit"}], **estimator))
    with pytest.raises((SpecError, SpecErrors)) as info:
        build_training_job_request(spec, None, region="us-east-1")
    message = str(info.value)
    assert message.startswith("estimator.rules: ['Overfit']: ") and why in message, message
    # Profiler rules read the profiler's data, not the hook's: they stay.
    spec = parse_spec(minimal_spec(rules=[{"profiler_rule": "ProfilerReport"}], **estimator))
    assert "DebugHookConfig" not in build_training_job_request(spec, None, region="us-east-1")


def test_debugger_rules_with_parameter_server_are_refused() -> None:
    doc = minimal_spec(
        rules=[{"debugger_rule": "overfit"}], distribution={"parameter_server": {"enabled": True}}
    )
    doc["framework"] = "tensorflow"
    doc["estimator"].update(framework_version="2.13", py_version="py310")
    spec = parse_spec(doc)
    with pytest.raises((SpecError, SpecErrors), match=r"estimator\.rules: .*parameter_server"):
        build_training_job_request(spec, None, region="us-east-1")
