"""The estimator's `rules`: SageMaker Debugger and Profiler built-in rules, as SDK 2.220 sends them.

A notebook writes `rules=[Rule.sagemaker(rule_configs.vanishing_gradient(), ...),
ProfilerRule.sagemaker(rule_configs.ProfilerReport(...))]`; a spec writes the same as data:

    {"debugger_rule": "vanishing_gradient", "rule_parameters": {...}, "collections_to_save": [...]}
    {"profiler_rule": "ProfilerReport", "rule_parameters": {"CPUBottleneck_threshold": 90}}

SDK sources: sagemaker.debugger.Rule.sagemaker / ProfilerRule.sagemaker,
to_debugger_rule_config_dict / to_profiler_rule_config_dict, EstimatorBase._prepare_rules,
_prepare_debugger_for_training (rules' collections join the hook's), _set_default_rule_config
(the rule evaluator image; instance type and volume dropped for built-in rules). The built-in
rules' defaults are smdebug-rulesconfig 1.0.1's (the SDK's dependency: debugger_rules/
rule_config_jsons/ruleConfigs.json and profiler_rules/rules.py); the rule image registry is
sagemaker/image_uri_config/debugger.json. tests/dtrain/test_sdk_parity.py compares every
rule here with the library's and the SDK's requests.

Custom rules (`Rule.custom`: your own evaluator image and script) and rule actions (SNS/
e-mail/stop-training) are refused with a reason; rules run as SageMaker processing jobs beside
the training job, in AWS only (local mode runs no rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.estimator_values import COLLECTION_TABLE, MAX_DEBUGGER_PARAMETERS
from dtrain.jobspec.values import Custom, Each, Kind, ListOf, S3Uri, Table, Text

_S3 = S3Uri()

# smdebug-rulesconfig 1.0.1: rule_configs.<function>() -> (RuleConfigurationName, its default
# collections to save as (name, parameters)). Every one's RuleParameters is just rule_to_invoke.
DEBUGGER_RULES: Mapping[str, tuple[str, tuple[tuple[str, Mapping[str, str]], ...]]] = {
    "all_zero": ("AllZero", ()),
    "check_input_images": (
        "CheckInputImages",
        (("input_image", {"include_regex": ".*hybridsequential0_input_0", "save_interval": "500"}),),
    ),
    "class_imbalance": ("ClassImbalance", ()),
    "confusion": ("Confusion", ()),
    "create_xgboost_report": (
        "CreateXgboostReport",
        (
            ("metrics", {"save_interval": "5"}),
            ("feature_importance", {"save_interval": "5"}),
            ("hyperparameters", {"save_steps": "0"}),
            ("predictions", {"save_interval": "5"}),
            ("labels", {"save_interval": "5"}),
        ),
    ),
    "dead_relu": ("DeadRelu", (("relu_output", {"include_regex": ".*relu_output", "save_interval": "500"}),)),
    "exploding_tensor": ("ExplodingTensor", ()),
    "feature_importance_overweight": (
        "FeatureImportanceOverweight",
        (("feature_importance", {"save_interval": "500"}),),
    ),
    "loss_not_decreasing": ("LossNotDecreasing", (("losses", {"save_interval": "500"}),)),
    "nlp_sequence_ratio": (
        "NLPSequenceRatio",
        (("input_sequence", {"include_regex": ".*embedding0_input_0", "save_interval": "500"}),),
    ),
    "overfit": ("Overfit", ()),
    "overtraining": ("Overtraining", ()),
    "poor_weight_initialization": (
        "PoorWeightInitialization",
        (("relu_input", {"include_regex": ".*relu_input", "save_interval": "500"}),),
    ),
    "saturated_activation": ("SaturatedActivation", ()),
    "similar_across_runs": ("SimilarAcrossRuns", ()),
    "stalled_training_rule": ("StalledTrainingRule", ()),
    "tensor_variance": ("TensorVariance", ()),
    "tree_depth": ("TreeDepth", ()),
    "unchanged_tensor": ("UnchangedTensor", ()),
    "vanishing_gradient": ("VanishingGradient", (("gradients", {"save_interval": "500"}),)),
    "weight_update_ratio": ("WeightUpdateRatio", (("weights", {"save_interval": "500"}),)),
}
_MINUTE_US = 60 * 1000 * 1000
# smdebug-rulesconfig 1.0.1 profiler_rules/rules.py: class -> its parameters' defaults; the SDK
# sends every one (str() of the value) with rule_to_invoke. Dataloader is not exported by
# rule_configs, so only ProfilerReport's "Dataloader_*" parameters reach it.
PROFILER_RULES: Mapping[str, Mapping[str, object]] = {
    "BatchSize": {
        "cpu_threshold_p95": 70,
        "gpu_threshold_p95": 70,
        "gpu_memory_threshold_p95": 70,
        "patience": 1000,
        "window": 500,
        "scan_interval_us": _MINUTE_US,
    },
    "CPUBottleneck": {
        "threshold": 50,
        "gpu_threshold": 10,
        "cpu_threshold": 90,
        "patience": 1000,
        "scan_interval_us": _MINUTE_US,
    },
    "GPUMemoryIncrease": {"increase": 5, "patience": 1000, "window": 10, "scan_interval_us": _MINUTE_US},
    "IOBottleneck": {
        "threshold": 50,
        "gpu_threshold": 10,
        "io_threshold": 50,
        "patience": 1000,
        "scan_interval_us": _MINUTE_US,
    },
    "LoadBalancing": {"threshold": 0.5, "patience": 1000, "scan_interval_us": _MINUTE_US},
    "LowGPUUtilization": {
        "threshold_p95": 70,
        "threshold_p5": 10,
        "window": 500,
        "patience": 1000,
        "scan_interval_us": _MINUTE_US,
    },
    "MaxInitializationTime": {"threshold": 20, "scan_interval_us": _MINUTE_US},
    "OverallSystemUsage": {"scan_interval_us": _MINUTE_US},
    "StepOutlier": {"stddev": 3, "mode": None, "n_outliers": 10, "scan_interval_us": _MINUTE_US},
    "ProfilerReport": {},  # takes "<Rule>_<parameter>" keys of the rules above (and Dataloader's)
}
_REPORT_RULES: Mapping[str, Mapping[str, object]] = {
    **{k: v for k, v in PROFILER_RULES.items() if k != "ProfilerReport"},
    "Dataloader": {"min_threshold": 70, "max_threshold": 200, "scan_interval_us": _MINUTE_US},
}
# sagemaker/image_uri_config/debugger.json: the rule evaluator's account per region.
RULE_IMAGE_ACCOUNTS: Mapping[str, str] = {
    "af-south-1": "314341159256",
    "ap-east-1": "199566480951",
    "ap-northeast-1": "430734990657",
    "ap-northeast-2": "578805364391",
    "ap-northeast-3": "479947661362",
    "ap-south-1": "904829902805",
    "ap-southeast-1": "972752614525",
    "ap-southeast-2": "184798709955",
    "ca-central-1": "519511493484",
    "cn-north-1": "618459771430",
    "cn-northwest-1": "658757709296",
    "eu-central-1": "482524230118",
    "eu-north-1": "314864569078",
    "eu-south-1": "563282790590",
    "eu-west-1": "929884845733",
    "eu-west-2": "250201462417",
    "eu-west-3": "447278800020",
    "me-south-1": "986000313247",
    "sa-east-1": "818342061345",
    "us-east-1": "503895931360",
    "us-east-2": "915447279597",
    "us-gov-west-1": "515509971035",
    "us-west-1": "685455198987",
    "us-west-2": "895741380848",
}
RULE_IMAGE_REPOSITORY = "sagemaker-debugger-rules:latest"

DEBUGGER_RULE_KEYS = (
    "debugger_rule",
    "name",
    "container_local_output_path",
    "s3_output_path",
    "other_trials_s3_input_paths",
    "rule_parameters",
    "collections_to_save",
    "actions",
)
PROFILER_RULE_KEYS = (
    "profiler_rule",
    "name",
    "container_local_output_path",
    "s3_output_path",
    "rule_parameters",
    "instance_type",
    "volume_size_in_gb",
)
_REFUSED = {
    "actions": "rule actions (stop training, SNS e-mail/SMS) are not supported yet",
    "instance_type": "SageMaker picks the instance of a built-in rule (SDK 2.220 drops this value)",
    "volume_size_in_gb": "SageMaker sizes a built-in rule's volume (SDK 2.220 drops this value)",
}
MAX_RULES = 20  # botocore: DebugRuleConfigurations / ProfilerRuleConfigurations at most 20 each
# botocore RuleConfigurationName: 1-256 characters; RuleParameters: at most 100 entries.
MAX_RULE_NAME = 256
MAX_RULE_PARAMETERS = 100


@dataclass(frozen=True)
class RuleSpec:
    """One rule: `kind` is "debugger" or "profiler"; `config` the SDK's configuration dict
    without the evaluator image (which depends on the region); `collections` the collections a
    debugger rule needs saved (they join the hook's CollectionConfigurations)."""

    kind: str
    config: Mapping[str, Any]
    collections: tuple[tuple[str, Mapping[str, str] | None], ...] = ()


def _string_map(field: str, value: object, errors: ErrorCollector) -> dict[str, str] | None:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        errors.add(field, value, "must be an object of string -> string")
        return None
    return dict(value)


_STRINGS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


class BuiltInRule(Kind):
    """The name of one of `names` (a built-in rule); another reads "did you mean"."""

    def __init__(self, names: Mapping[str, object]) -> None:
        self.names = names

    def __call__(self, value: object) -> str | None:
        if isinstance(value, str) and value in self.names:
            return None
        shown = value if isinstance(value, str) else repr(value)
        return f"not a built-in rule; {rules.did_you_mean(shown, self.names)}"

    def schema(self) -> dict[str, Any]:
        return {"enum": sorted(self.names)}

    def describe(self) -> str:
        return "a built-in rule's name (below)"


def _debugger_parameters(field: str, value: object, errors: ErrorCollector) -> dict[str, str] | None:
    checked = _string_map(field, value, errors)
    if checked is not None and "rule_to_invoke" in checked:
        errors.add(f"{field}.rule_to_invoke", checked["rule_to_invoke"], "set by the rule itself")
        return None
    return checked


# The collections a rule needs saved join the hook's CollectionConfigurations (SDK 2.220
# _prepare_debugger_for_training), so each is read by the hook's collection table: the same
# CollectionConfig arguments and limits (at most 20, parameters at most 20 entries).
COLLECTIONS_TO_SAVE = ListOf(
    "collection",
    COLLECTION_TABLE.schema,
    MAX_DEBUGGER_PARAMETERS,
    rule='must be a list of {"name": ..., "parameters": {...}}',
)


def _collections(
    field: str, value: object, errors: ErrorCollector
) -> tuple[tuple[str, Mapping[str, str] | None], ...] | None:
    """CollectionConfig(name, parameters) objects as the SDK takes them: 1 to 20."""
    if not isinstance(value, list) or not 1 <= len(value) <= COLLECTIONS_TO_SAVE.max_items:
        errors.add(field, value, COLLECTIONS_TO_SAVE.rule)
        return None
    before = len(errors.errors)
    out: list[tuple[str, Mapping[str, str] | None]] = []
    for i, item in enumerate(value):
        entry = COLLECTION_TABLE.read(
            f"{field}[{i}]", item, errors, not_object='must be {"name": ..., "parameters": {...}}'
        )
        if entry is not None and "name" in entry:
            out.append((entry["name"], entry.get("parameters")))
    return tuple(out) if len(errors.errors) == before else None


def _profiler_value_ok(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _profiler_parameters(field: str, value: object, errors: ErrorCollector) -> dict[str, object] | None:
    """The values' types; which names a rule takes depends on the rule (_profiler_rule)."""
    if not isinstance(value, Mapping):
        errors.add(field, value, "must be an object of the rule's parameters")
        return None
    bad = [k for k, v in value.items() if not _profiler_value_ok(v)]
    for key in bad:
        errors.add(f"{field}.{key}", value[key], "must be a number, a string or true/false")
    return None if bad else {str(k): v for k, v in value.items()}


# One rule entry's keys (Rule.sagemaker / ProfilerRule.sagemaker's arguments): each key's check
# and schema in one place. The name is botocore's RuleConfigurationName (DebugRuleConfiguration
# and ProfilerRuleConfiguration: 1-256 characters, pattern .*), which the schema said and the
# parser did not check; RuleParameters' own limits (100 entries, ConfigKey 1-256, ConfigValue
# <= 256) apply to the merged parameters the SDK sends and are not checked here yet.
_COMMON: dict[str, Kind | str] = {
    "name": Text(MAX_RULE_NAME),
    "container_local_output_path": Text(),
    "s3_output_path": _S3,
}
DEBUGGER_RULE_TABLE = Table(
    "rules[] (debugger)",
    {
        "debugger_rule": BuiltInRule(DEBUGGER_RULES),
        **_COMMON,
        "other_trials_s3_input_paths": Each(_S3, None, "must be a list of s3:// URIs"),
        "rule_parameters": Custom(_debugger_parameters, _STRINGS_SCHEMA, "object of string -> string"),
        "collections_to_save": Custom(
            _collections,
            lambda: {**COLLECTIONS_TO_SAVE.schema(), "minItems": 1},
            f"list of 1 to {MAX_DEBUGGER_PARAMETERS} collections, as in `collection_configs`",
        ),
        "actions": _REFUSED["actions"],
    },
    required=("debugger_rule",),
    nullable=True,
    null_checked=("debugger_rule",),
)
PROFILER_RULE_TABLE = Table(
    "rules[] (profiler)",
    {
        "profiler_rule": BuiltInRule(PROFILER_RULES),
        **_COMMON,
        "rule_parameters": Custom(
            _profiler_parameters,
            {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
            "object of the rule's parameter -> number, string or true/false",
        ),
        "instance_type": _REFUSED["instance_type"],
        "volume_size_in_gb": _REFUSED["volume_size_in_gb"],
    },
    required=("profiler_rule",),
    nullable=True,
    null_checked=("profiler_rule",),
)
assert tuple(DEBUGGER_RULE_TABLE.args) == DEBUGGER_RULE_KEYS
assert tuple(PROFILER_RULE_TABLE.args) == PROFILER_RULE_KEYS


def _debugger_rule(good: Mapping[str, Any]) -> RuleSpec:
    default_name, collections = DEBUGGER_RULES[good["debugger_rule"]]
    # Rule.sagemaker: other_trial_<i> first, then the defaults, then rule_parameters.
    params: dict[str, str] = {
        f"other_trial_{i}": p for i, p in enumerate(good.get("other_trials_s3_input_paths", ()))
    }
    params["rule_to_invoke"] = default_name
    params.update(good.get("rule_parameters") or {})
    saved = good.get("collections_to_save", collections)
    config: dict[str, Any] = {"RuleConfigurationName": good.get("name") or default_name}
    if good.get("container_local_output_path") is not None:
        config["LocalPath"] = good["container_local_output_path"]
    if good.get("s3_output_path") is not None:
        config["S3OutputPath"] = good["s3_output_path"]
    config["RuleParameters"] = params
    return RuleSpec("debugger", config, tuple((n, dict(p) if p is not None else None) for n, p in saved))


def _profiler_rule(field: str, good: Mapping[str, Any], errors: ErrorCollector) -> RuleSpec | None:
    before = len(errors.errors)
    rule = good["profiler_rule"]
    given: Mapping[str, object] = good.get("rule_parameters") or {}
    for key, value in given.items():
        path = f"{field}.rule_parameters.{key}"
        if rule == "ProfilerReport":
            # ProfilerReport: "<Rule>_<parameter>" of one of the rules it runs (names case-insensitive).
            head, _, tail = key.partition("_")
            target = next((r for r in _REPORT_RULES if r.lower() == head.lower()), None)
            if target is None or tail.lower() not in _REPORT_RULES[target]:
                errors.add(path, value, f"must be <Rule>_<parameter> of {', '.join(sorted(_REPORT_RULES))}")
        elif key not in PROFILER_RULES[rule]:
            errors.add(path, value, rules.unknown_key_rule(key, PROFILER_RULES[rule]))
    if len(errors.errors) > before:
        return None
    # ProfilerRuleBase: the constructor's parameters (defaults filled in), then rule_to_invoke;
    # to_profiler_rule_config_dict sends str() of each.
    merged = {**PROFILER_RULES[rule], **given, "rule_to_invoke": rule}
    config: dict[str, Any] = {"RuleConfigurationName": good.get("name") or rule}
    if good.get("container_local_output_path") is not None:
        config["LocalPath"] = good["container_local_output_path"]
    if good.get("s3_output_path") is not None:
        config["S3OutputPath"] = good["s3_output_path"]
    config["RuleParameters"] = {k: str(v) for k, v in merged.items()}
    return RuleSpec("profiler", config)


_ONE_RULE = (
    'one of {"debugger_rule": NAME, ...} (Rule.sagemaker) or {"profiler_rule": NAME, ...} '
    "(ProfilerRule.sagemaker); custom rule images are not supported"
)
# DebugRuleConfigurations and ProfilerRuleConfigurations: at most MAX_RULES each (checked per
# kind in check_rules), so the list holds at most twice that.
RULES = ListOf(
    "rule",
    lambda: {"oneOf": [DEBUGGER_RULE_TABLE.schema(), PROFILER_RULE_TABLE.schema()]},
    2 * MAX_RULES,
    'must be a list of {"debugger_rule": ...} / {"profiler_rule": ...}',
)


def check_rules(field: str, value: object, errors: ErrorCollector) -> tuple[RuleSpec, ...] | None:
    """The estimator's `rules`, every problem reported; None when any rule is bad."""
    if (problem := RULES(value)) is not None or not isinstance(value, list):
        errors.add(field, value, problem or RULES.rule)
        return None
    before = len(errors.errors)
    out: list[RuleSpec] = []
    for i, item in enumerate(value):
        path = f"{field}[{i}]"
        if not isinstance(item, Mapping) or ("debugger_rule" in item) == ("profiler_rule" in item):
            errors.add(path, item, _ONE_RULE)
            continue
        debugger = "debugger_rule" in item
        mark = len(errors.errors)
        good = (DEBUGGER_RULE_TABLE if debugger else PROFILER_RULE_TABLE).read(path, item, errors)
        if good is None or len(errors.errors) > mark:
            continue
        parsed = _debugger_rule(good) if debugger else _profiler_rule(path, good, errors)
        if parsed is not None:
            out.append(parsed)
    for kind in ("debugger", "profiler"):
        names = [r.config["RuleConfigurationName"] for r in out if r.kind == kind]
        if len(names) > MAX_RULES:
            errors.add(field, len(names), f"at most {MAX_RULES} {kind} rules")
        if len(set(names)) != len(names):
            errors.add(field, names, f"{kind} rule names must be unique (give `name`)")
    return tuple(out) if len(errors.errors) == before else None


def rule_evaluator_image(region: str) -> str:
    """image_uris.retrieve("debugger", region): the built-in rules' evaluator image."""
    account = RULE_IMAGE_ACCOUNTS.get(region)
    if account is None:
        raise SpecError(
            "estimator.rules", region, "SageMaker Debugger rules are not available in this region"
        )
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}/{RULE_IMAGE_REPOSITORY}"


def rule_configurations(
    rule_specs: tuple[RuleSpec, ...], region: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(DebugRuleConfigurations, ProfilerRuleConfigurations) in the spec's order."""
    if not rule_specs:
        return [], []
    image = rule_evaluator_image(region)
    out: dict[str, list[dict[str, Any]]] = {"debugger": [], "profiler": []}
    for rule in rule_specs:
        config = dict(rule.config)
        params = config.pop("RuleParameters")
        # to_*_rule_config_dict's key order: name, image, paths, parameters.
        ordered = {"RuleConfigurationName": config.pop("RuleConfigurationName"), "RuleEvaluatorImage": image}
        ordered.update(config)
        ordered["RuleParameters"] = dict(params)
        out[rule.kind].append(ordered)
    return out["debugger"], out["profiler"]


def rule_collections(rule_specs: tuple[RuleSpec, ...] | None) -> list[dict[str, Any]]:
    """The collections the debugger rules need saved, as CollectionConfigurations entries."""
    out: list[dict[str, Any]] = []
    for rule in rule_specs or ():
        for name, params in rule.collections:
            entry: dict[str, Any] = {"CollectionName": name}
            if params is not None:
                entry["CollectionParameters"] = dict(params)
            out.append(entry)
    return out


def rules_schema() -> dict[str, Any]:
    """JSON Schema of `rules` (dtrain.jobspec.estimator_args), from the entries' tables."""
    return RULES.schema()
