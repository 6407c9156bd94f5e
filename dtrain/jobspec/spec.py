"""The job spec (docs/jobspec.md): JSON or YAML in, one typed, frozen `JobSpec` out.

`parse_spec` checks everything that can be checked without the platform, in one pass, and
raises `SpecError` (one problem) or `SpecErrors` (several); the platform-dependent rules
(a packaged image needs its URI, a file-system channel its VPC) are checked when the
request is built (dtrain.requests.training_request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.channels import INPUTS, Channel, is_file_system_channel, parse_processing_output
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.experiment_config import experiment_config_schema, parse_experiment_config
from dtrain.jobspec.inference_spec import (
    DeploySpec,
    TransformSpec,
    check_against_estimator,
    deploy_schema,
    parse_deploy,
    parse_transform,
    transform_schema,
)
from dtrain.jobspec.metrics import DEFAULT_METRIC_DEFINITIONS
from dtrain.jobspec.processing_spec import ProcessingSpec, parse_processing, processing_schema
from dtrain.jobspec.spec_estimator import (
    EstimatorSpec,
    added_hyperparameter_count,
    estimator_schema,
    parse_estimator,
)
from dtrain.jobspec.spec_file import read_document
from dtrain.jobspec.sweep_spec import SWEEP_TABLE, SweepSpec, parse_sweep
from dtrain.jobspec.values import CheckedElsewhere, Name, OneOf, Table

JOB_NAME = Name()  # the spec's job_name: SageMaker's TrainingJobName rule (dtrain.jobspec.naming)

Framework = Literal["pytorch", "tensorflow"]
FRAMEWORKS: tuple[Framework, ...] = ("pytorch", "tensorflow")
FRAMEWORK = OneOf(*FRAMEWORKS)


def _block(link: str, schema: Callable[[], dict[str, Any]]) -> CheckedElsewhere:
    """A block its own module parses (parse_spec calls it, in the order the cross-block rules need)."""
    return CheckedElsewhere(schema, f"object ([{link}](#{link}))")


# The spec's top level: its keys, the framework and job name rules, and each block's schema.
# parse_spec reads the blocks one by one (the rules between blocks need them in order); a null
# optional key is the key left out.
TOP_LEVEL = Table(
    "Top level",
    {
        "framework": FRAMEWORK,
        "job_name": JOB_NAME,
        "estimator": _block("estimator", estimator_schema),
        "inputs": INPUTS,
        "sweep": _block("sweep", SWEEP_TABLE.schema),
        "experiment_config": _block("experiment_config", experiment_config_schema),
        "processing": _block("processing", processing_schema),
        "deploy": _block("deploy", deploy_schema),
        "transform": _block("transform", transform_schema),
    },
    required=("framework", "estimator"),
    missing={"framework": f"required: one of {', '.join(FRAMEWORKS)}"},
    notes={
        "framework": "whose SDK v2 estimator semantics apply",
        "job_name": "derived from the execution when absent",
        "estimator": "SDK v2 estimator arguments",
        "inputs": "fit(inputs=...)",
        "sweep": "one job per override",
        "experiment_config": "fit(experiment_config=...)",
        "processing": "a processing job before training",
        "deploy": "an endpoint after training",
        "transform": "a batch transform job after training",
    },
    nullable=True,
)
TOP_LEVEL_KEYS = tuple(TOP_LEVEL.args)


@dataclass(frozen=True)
class JobSpec:
    framework: Framework
    job_name: str | None
    estimator: EstimatorSpec
    inputs: Mapping[str, Channel]
    sweep: SweepSpec | None
    raw: Mapping[str, Any]
    # Directory of the spec file (load_spec), against which a relative local source_dir resolves.
    spec_dir: str | None = None
    # fit(experiment_config=...): sent as ExperimentConfig when non-empty (dtrain.jobspec.experiment_config).
    experiment_config: Mapping[str, str] | None = None
    # ScriptProcessor(...).run(...) before training (dtrain.jobspec.processing_spec).
    processing: ProcessingSpec | None = None
    # Training channel -> processing output name (`{"processing_output": NAME}` in inputs).
    processing_channels: Mapping[str, str] = field(default_factory=dict)
    # estimator.deploy(...) / estimator.transformer(...).transform(...) after training
    # (dtrain.jobspec.inference_spec; requests in dtrain.requests.inference_request).
    deploy: DeploySpec | None = None
    transform: TransformSpec | None = None

    def local_source_dir(self) -> Path | None:
        """The local directory to upload (or for local mode to copy), when the code is local."""
        est = self.estimator
        if not est.local_source or est.source_dir is None:
            return None
        path = Path(est.source_dir)
        return path if path.is_absolute() or self.spec_dir is None else Path(self.spec_dir) / path


def _parse_inputs(data: object, errors: ErrorCollector) -> dict[str, Channel]:
    if data is None:
        return {}
    got = INPUTS.read("inputs", data, "", errors)
    return dict(got) if isinstance(got, Mapping) else {}


def _parse_processing_channels(data: object, errors: ErrorCollector) -> dict[str, str]:
    """Channels `{"processing_output": NAME}`: filled with that output's S3 URI at request time."""
    out: dict[str, str] = {}
    if not isinstance(data, Mapping):
        return out
    for name, value in data.items():
        if isinstance(value, Mapping) and "processing_output" in value:
            wanted = parse_processing_output(f"inputs.{name}", value, errors)
            if wanted is not None:
                out[str(name)] = wanted
    return out


def _check_top_level(data: Mapping[str, object], errors: ErrorCollector) -> object:
    """The spec's keys, its framework and job name (TOP_LEVEL); returns the framework as given."""
    for key in data:
        if key not in TOP_LEVEL.args:
            errors.add(str(key), data[key], TOP_LEVEL.unknown_rule(str(key)))
    framework = data.get("framework")
    if (problem := FRAMEWORK(framework)) is not None:
        errors.add(
            "framework", framework, problem if isinstance(framework, str) else TOP_LEVEL.missing["framework"]
        )
    if data.get("job_name") is not None:
        JOB_NAME.read("job_name", data["job_name"], "", errors)
    return framework


def _parse_processing_of(
    data: Mapping[str, object], errors: ErrorCollector
) -> tuple[ProcessingSpec | None, dict[str, str]]:
    """The processing block and the channels that read its outputs, checked against each other."""
    processing = parse_processing(data["processing"], errors) if data.get("processing") is not None else None
    processing_channels = _parse_processing_channels(data.get("inputs"), errors)
    if processing_channels and processing is None and data.get("processing") is None:
        first = next(iter(processing_channels))
        errors.add(
            f"inputs.{first}.processing_output",
            processing_channels[first],
            "the spec has no processing block",
        )
    if processing is not None:
        _check_processing_output_channels(processing_channels, processing, errors)
    return processing, processing_channels


def parse_spec(data: Mapping[str, object], *, spec_dir: str | None = None) -> JobSpec:
    """A typed `JobSpec`, or every problem found at once (SpecError / SpecErrors)."""
    errors = ErrorCollector()
    if not isinstance(data, Mapping):
        raise SpecError("spec", data, "must be a JSON object")
    framework = _check_top_level(data, errors)
    fw = framework if isinstance(framework, str) else ""
    job_name = data.get("job_name")
    estimator = _parse_estimator_of(data.get("estimator"), fw, errors)
    inputs = _parse_inputs(data.get("inputs"), errors)
    if estimator is not None:
        _check_channels_against_estimator(inputs, estimator, errors)
        _check_image_launches_distribution(estimator, errors)
    sweep = parse_sweep(data["sweep"], fw, errors) if data.get("sweep") is not None else None
    if sweep is not None and estimator is not None:
        _check_sweep_against_estimator(sweep, estimator, fw, errors)
    experiment_config = None
    if data.get("experiment_config") is not None:
        experiment_config = parse_experiment_config("experiment_config", data["experiment_config"], errors)
    processing, processing_channels = _parse_processing_of(data, errors)
    deploy = parse_deploy(data["deploy"], fw, errors) if data.get("deploy") is not None else None
    transform = parse_transform(data["transform"], fw, errors) if data.get("transform") is not None else None
    if estimator is not None:
        check_against_estimator(
            deploy, transform, estimator.framework_version, estimator.disable_output_compression, errors
        )
    errors.raise_if_any()
    assert estimator is not None and framework in FRAMEWORKS
    return JobSpec(
        framework="pytorch" if framework == "pytorch" else "tensorflow",
        job_name=job_name if isinstance(job_name, str) else None,
        estimator=estimator,
        inputs=inputs,
        sweep=sweep,
        raw=data,
        spec_dir=spec_dir,
        experiment_config=experiment_config,
        processing=processing,
        processing_channels=processing_channels,
        deploy=deploy,
        transform=transform,
    )


def _parse_estimator_of(data: object, framework: str, errors: ErrorCollector) -> EstimatorSpec | None:
    """parse_estimator; with a framework that is not one (already reported), only the errors
    the estimator has under EVERY framework: the others (an argument "not taken by" the bad
    framework, entry_point "required") would blame the estimator for the framework's mistake."""
    if framework in FRAMEWORKS:
        return parse_estimator(data, framework, errors)
    found = []
    for candidate in FRAMEWORKS:
        own = ErrorCollector()
        parse_estimator(data, candidate, own)
        found.append(own.errors)
    common = set.intersection(*({(e.field, e.rule) for e in errs} for errs in found))
    errors.extend(e for e in found[0] if (e.field, e.rule) in common)
    return None


def _check_channels_against_estimator(
    inputs: Mapping[str, Channel], estimator: EstimatorSpec, errors: ErrorCollector
) -> None:
    for name, channel in inputs.items():
        if is_file_system_channel(channel) and estimator.input_mode != "File":
            errors.add(
                f"inputs.{name}",
                estimator.input_mode,
                "file-system channels (FSx, EFS) read in File mode only; set estimator.input_mode to File",
            )


def _check_processing_output_channels(
    channels: Mapping[str, str], processing: ProcessingSpec, errors: ErrorCollector
) -> None:
    names = [o.output_name for o in processing.outputs]
    for name, wanted in channels.items():
        if wanted not in names:
            errors.add(
                f"inputs.{name}.processing_output",
                wanted,
                f"not an output of processing.run.outputs; {rules.did_you_mean(wanted, names)}",
            )


def _check_image_launches_distribution(estimator: EstimatorSpec, errors: ErrorCollector) -> None:
    strategy = estimator.distribution.strategy if estimator.distribution is not None else None
    if strategy is not None and not rules.image_launches(estimator.image_uri, strategy):
        errors.add("estimator.distribution", strategy, rules.image_distribution_rule(estimator.image_uri))


def _check_sweep_against_estimator(
    sweep: SweepSpec, estimator: EstimatorSpec, framework: str, errors: ErrorCollector
) -> None:
    room = rules.MAX_HYPERPARAMETERS - added_hyperparameter_count(
        framework, estimator.distribution, estimator.instance_type
    )
    for i, overrides in enumerate(sweep.overrides):
        merged = {**(estimator.hyperparameters or {}), **overrides}
        if len(merged) > room:
            errors.add(
                f"sweep.overrides[{i}]",
                len(merged),
                f"too many hyperparameters with the estimator's: at most {room}",
            )
    names = {name for name, _ in estimator.metric_definitions or ()}
    if estimator.metric_definitions is None and estimator.packaged_image:
        names = {name for name, _ in DEFAULT_METRIC_DEFINITIONS}
    if sweep.objective_metric not in names:
        hint = rules.did_you_mean(sweep.objective_metric, names) if names else "define metric_definitions"
        errors.add("sweep.objective.metric", sweep.objective_metric, f"not a metric of this job; {hint}")


def sweep_entries(spec: JobSpec) -> list[JobSpec]:
    """One spec per sweep entry, hyperparameters merged, no sweep block (one job each)."""
    if spec.sweep is None:
        return [spec]
    out: list[JobSpec] = []
    for overrides in spec.sweep.overrides:
        hyperparameters = {**(spec.estimator.hyperparameters or {}), **overrides}
        raw = dict(spec.raw)
        raw.pop("sweep", None)
        raw["estimator"] = {**dict(raw.get("estimator") or {}), "hyperparameters": hyperparameters}
        estimator = replace(spec.estimator, hyperparameters=hyperparameters)
        out.append(replace(spec, estimator=estimator, sweep=None, raw=raw, job_name=None))
    return out


def load_spec(path: str | Path) -> JobSpec:
    """Read a JSON or YAML spec file and parse it."""
    p = Path(path)
    data = read_document(p)
    if not isinstance(data, Mapping):
        raise SpecError(str(p), type(data).__name__, "a spec file holds one JSON/YAML object")
    spec = parse_spec(data, spec_dir=str(p.parent))
    check_local_code(spec)
    return spec


def check_local_code(spec: JobSpec) -> None:
    """The code a spec file names is there, as submit uploads it and local mode copies it.

    Checked for the CLI's commands (load_spec), not by parse_spec: the Lambdas parse specs whose
    code was already uploaded. A relative source_dir is taken from the spec file's folder.
    """
    est = spec.estimator
    errors = ErrorCollector()
    entry = PurePosixPath(est.entry_point)
    if est.source_dir is not None and (entry.is_absolute() or ".." in entry.parts):
        # SageMaker runs source_dir/entry_point; the toolkit never looks outside source_dir.
        errors.add(
            "estimator.entry_point", est.entry_point, "must be a relative path inside source_dir (no '..')"
        )
    elif est.local_source and est.source_dir is not None:
        directory = spec.local_source_dir()
        assert directory is not None
        if not directory.exists():
            errors.add("estimator.source_dir", est.source_dir, f"no such directory ({directory})")
        elif not directory.is_dir():
            errors.add("estimator.source_dir", est.source_dir, f"is a file, not a directory ({directory})")
        else:
            script = directory / est.entry_point
            if not script.is_file():
                errors.add(
                    "estimator.entry_point", est.entry_point, f"no such file in source_dir ({directory})"
                )
            elif not script.resolve().is_relative_to(directory.resolve()):
                errors.add(
                    "estimator.entry_point", est.entry_point, "is a link that points outside source_dir"
                )
            if est.enable_network_isolation and (directory / REQUIREMENTS_FILE).is_file():
                # An isolated container has no network at all: the toolkit's pip install cannot work.
                errors.add(
                    "estimator.source_dir",
                    est.source_dir,
                    f"holds {REQUIREMENTS_FILE}, which the toolkit pip-installs at job start; with "
                    "enable_network_isolation the container has no network: put the packages in the image",
                )
    elif est.local_source:
        # A lone entry point: beside the spec file, else from the working directory (as submit).
        script = Path(spec.spec_dir or ".") / est.entry_point
        if not script.is_file() and not Path(est.entry_point).is_file():
            errors.add("estimator.entry_point", est.entry_point, f"no such file to upload ({script})")
    for block in ("deploy", "transform"):
        _check_local_inference_code(spec, block, errors)
    if spec.processing is not None and spec.processing.local_code:
        # The processing script is a local file too (uploaded by submit, copied by local mode).
        code = Path(spec.processing.code)
        code = code if code.is_absolute() or spec.spec_dir is None else Path(spec.spec_dir) / code
        if not code.is_file():
            errors.add("processing.run.code", spec.processing.code, f"no such file ({code})")
    errors.raise_if_any()


# The SageMaker training toolkit pip-installs a requirements.txt at the top of the code directory
# before it starts the entry point (sagemaker_training.entry_point.install, modules.has_requirements).
REQUIREMENTS_FILE = "requirements.txt"


def requirements_note(spec: JobSpec) -> str | None:
    """One line when the local source_dir holds a requirements.txt, which the toolkit installs
    from a package index at job start: the platform's jobs run in private subnets with no route
    to one unless the stack has NAT gateways (network.nat_gateways, 0 by default), and local
    mode gives each host loopback only, so the install fails there; None otherwise.
    (With network isolation it is refused instead: check_local_code.)"""
    directory = spec.local_source_dir()
    if directory is None or not (directory / REQUIREMENTS_FILE).is_file():
        return None
    return (
        f"estimator.source_dir: {spec.estimator.source_dir!r}: holds {REQUIREMENTS_FILE}, which the "
        "SageMaker training toolkit pip-installs from a package index before the entry point; the "
        "platform's jobs have no route to one unless it was deployed with network.nat_gateways > 0, "
        "and local mode's hosts have none: put the packages in the image, or their wheels in "
        "source_dir with `--no-index --find-links` lines"
    )


def _check_local_inference_code(spec: JobSpec, block: str, errors: ErrorCollector) -> None:
    """A deploy / transform block's local inference code is there (submit uploads it)."""
    owner = getattr(spec, block)
    model = getattr(owner, "model", None)
    if model is None or model.entry_point is None:
        return
    base = Path(spec.spec_dir or ".")
    if model.source_dir is not None and model.source_dir.startswith("s3://"):
        return
    if model.source_dir is not None:
        directory = Path(model.source_dir)
        directory = directory if directory.is_absolute() else base / directory
        if not directory.is_dir():
            errors.add(f"{block}.source_dir", model.source_dir, f"no such directory ({directory})")
        elif not (directory / model.entry_point).is_file():
            errors.add(f"{block}.entry_point", model.entry_point, f"no such file in source_dir ({directory})")
        return
    script = Path(model.entry_point)
    script = script if script.is_absolute() else base / script
    if not script.is_file():
        errors.add(f"{block}.entry_point", model.entry_point, f"no such file to upload ({script})")
