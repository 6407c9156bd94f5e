"""Issue 26, findings 11 and 15: every request an execution makes, in order, from one sweep
parser, with the execution role's S3 reach checked on each of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.orchestration.submit import prepare
from dtrain.requests.execution_requests import check_against_platform, execution_requests

from .conftest import REPO, minimal_spec

PROCESSING_EXAMPLES = sorted((REPO / "examples" / "processing").glob("*.json"))
SWEEP = {
    "max_concurrency": 2,
    "objective": {"metric": "validation:accuracy", "goal": "maximize"},
    "overrides": [{"lr": 0.1}, {"lr": 0.01}],
}
METRICS = [{"Name": "validation:accuracy", "Regex": "acc=([0-9.]+)"}]


def _write(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def _errors(exc: SpecError | SpecErrors) -> list[str]:
    return [str(e) for e in as_error_list(exc)]


# -- finding 15: one sweep parser ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sweep",
    [
        {**SWEEP, "max_concurrency": 41},  # Submit capped it at 40, validate took up to 2**31 - 1
        {**SWEEP, "objective": {"metric": "nowhere"}},  # validate checked it, Submit did not
        {**SWEEP, "overrides": [{"sagemaker_program": "x.py"}]},  # reserved: Submit took it
        {**SWEEP, "overrides": [{"lr": 0.1}] * 201},
    ],
    ids=["concurrency-41", "unknown-metric", "reserved-hyperparameter", "201-entries"],
)
def test_validate_and_submit_refuse_the_same_sweep_with_the_same_lines(
    sweep: dict[str, Any], tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = minimal_spec(metric_definitions=METRICS)
    spec["sweep"] = sweep
    assert main(["validate", str(_write(tmp_path, spec))]) == 2
    printed = capsys.readouterr().err.splitlines()
    with pytest.raises((SpecError, SpecErrors)) as refused:
        prepare(spec, platform, region="eu-west-1")
    assert _errors(refused.value) == printed and len(printed) == 1
    assert printed[0].startswith("sweep.")


def test_max_concurrency_40_is_accepted_by_both() -> None:
    spec = minimal_spec(metric_definitions=METRICS)
    spec["sweep"] = {**SWEEP, "max_concurrency": 40}
    assert parse_spec(spec).sweep is not None
    from dtrain.orchestration.sweep import split_sweep

    _, sweep = split_sweep(spec)
    assert sweep is not None and sweep.max_concurrency == 40


def test_the_schema_says_the_same_limits() -> None:
    from dtrain.jobspec.schema import job_spec_schema

    sweep = job_spec_schema()["properties"]["sweep"]["properties"]
    assert sweep["max_concurrency"]["maximum"] == 40 and sweep["overrides"]["maxItems"] == 200


# -- finding 15: render prints every request, in order ---------------------------------------


def test_render_prints_the_processing_job_then_training(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _write(tmp_path, platform.to_dict(), "platform.json")
    example = REPO / "examples" / "processing" / "ddp_with_preprocessing.json"
    assert main(["render", str(example), "--platform", str(settings)]) == 0
    out = json.loads(capsys.readouterr().out)
    # The training job's ExperimentConfig names an experiment Submit creates first (issue 26).
    assert list(out) == ["CreateProcessingJob", "CreateExperiment (cifar10-ddp)", "CreateTrainingJob"]
    assert out["CreateExperiment (cifar10-ddp)"] == {"ExperimentName": "cifar10-ddp"}
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for o in out["CreateProcessingJob"]["ProcessingOutputConfig"]["Outputs"]
    }
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in out["CreateTrainingJob"]["InputDataConfig"]
    }
    assert channels == {"train": outputs["train"], "test": outputs["test"]}


def test_render_prints_one_training_request_per_sweep_item_then_hosting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = minimal_spec(metric_definitions=METRICS, framework_version="2.2.0", py_version="py310")
    spec["sweep"] = SWEEP
    spec["transform"] = {
        "instance_count": 1,
        "instance_type": "ml.m5.xlarge",
        "data": "s3://my-output/transform-in",
        "output_path": "s3://my-output/transform-out",
    }
    assert main(["render", str(_write(tmp_path, spec)), "--region", "us-east-1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == [
        "CreateTrainingJob (sweep item 0)",
        "CreateTrainingJob (sweep item 1)",
        "CreateModel (the best sweep item's; shown for item 0)",
        "CreateTransformJob (the best sweep item's; shown for item 0)",
    ]
    lrs = [
        json.loads(r["HyperParameters"]["lr"]) for k, r in out.items() if k.startswith("CreateTrainingJob")
    ]
    assert lrs == [0.1, 0.01]


def test_render_lists_the_experiment_and_trial_submit_creates_before_the_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ExperimentConfig with a trial: CreateExperiment, then CreateTrial (which needs it), once
    each, before the first job naming them, with the parameters Submit sends
    (dtrain.orchestration.experiment_entities); a trial alone names an existing one: no call."""
    spec = minimal_spec(metric_definitions=METRICS, framework_version="2.2.0", py_version="py310")
    spec["experiment_config"] = {"ExperimentName": "exp-a", "TrialName": "trial-a"}
    assert main(["render", str(_write(tmp_path, spec)), "--region", "us-east-1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["CreateExperiment (exp-a)", "CreateTrial (trial-a)", "CreateTrainingJob"]
    assert out["CreateTrial (trial-a)"] == {"TrialName": "trial-a", "ExperimentName": "exp-a"}
    assert out["CreateTrainingJob"]["ExperimentConfig"]["TrialName"] == "trial-a"
    spec["experiment_config"] = {"TrialName": "trial-a"}
    assert main(["render", str(_write(tmp_path, spec)), "--region", "us-east-1"]) == 0
    assert "TrainingJobName" in json.loads(capsys.readouterr().out)  # the bare request


def test_render_of_a_lone_training_job_stays_the_bare_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dtrain.jobspec.placeholder import placeholder_platform

    settings = _write(tmp_path, placeholder_platform().to_dict(), "platform.json")
    assert main(["render", str(REPO / "examples" / "ddp_torchrun.json"), "--platform", str(settings)]) == 0
    assert "TrainingJobName" in json.loads(capsys.readouterr().out)


# -- finding 11: the reach check runs on every request ---------------------------------------


@pytest.mark.parametrize("example", PROCESSING_EXAMPLES, ids=lambda p: p.stem)
def test_the_processing_examples_read_only_what_the_execution_role_may(
    example: Path, platform: PlatformSettings
) -> None:
    spec = load_spec(example)
    requests = execution_requests(spec, platform)
    assert [r.operation for r in requests] == ["CreateProcessingJob", "CreateExperiment", "CreateTrainingJob"]
    check_against_platform(spec, requests, platform)
    raw = requests[0].request["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert raw == "s3://dtrain-data-210987654321/cifar10/train"


def test_a_processing_input_the_role_cannot_read_is_refused_naming_the_input(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old examples' s3://dtrain-example-data input passed validate --platform."""
    spec = json.loads((REPO / "examples" / "processing" / "ddp_with_preprocessing.json").read_text())
    spec["processing"]["run"]["inputs"][0]["source"] = "s3://dtrain-example-data/cifar10/raw"
    spec["processing"]["run"]["code"] = str(REPO / "training_code" / "processing" / "preprocess_cifar10.py")
    settings = _write(tmp_path, platform.to_dict(), "platform.json")
    path = _write(tmp_path, spec)
    for command in ("validate", "render"):
        assert main([command, str(path), "--platform", str(settings)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(
            "processing.run.inputs[0].source: 's3://dtrain-example-data/cifar10/raw': "
            "the platform's execution role cannot read it"
        )


def test_processing_outputs_and_transform_locations_are_checked_too(platform: PlatformSettings) -> None:
    spec = minimal_spec(
        role=None, output_path=None, source_dir=None, framework_version="2.2.0", py_version="py310"
    )
    spec["transform"] = {
        "instance_count": 1,
        "instance_type": "ml.m5.xlarge",
        "data": "s3://someone-elses-bucket/in",
        "output_path": "s3://someone-elses-bucket/out",
    }
    spec["estimator"].update(image_uri="ddp", entry_point="train_ddp.py")
    parsed = parse_spec(spec)
    with pytest.raises(SpecErrors) as refused:
        check_against_platform(parsed, execution_requests(parsed, platform), platform)
    fields = [e.field for e in as_error_list(refused.value)]
    assert fields == ["transform.data", "transform.output_path"]


def test_a_data_bucket_input_needs_platform_settings() -> None:
    spec = json.loads((REPO / "examples" / "processing" / "ddp_with_preprocessing.json").read_text())
    spec["processing"]["run"]["code"] = "s3://my-output/code/preprocess.py"
    spec["processing"]["processor"].update(image_uri="my.registry/img:1", role="arn:aws:iam::1:role/r")
    spec["processing"]["run"]["outputs"] = [
        {"source": "/opt/ml/processing/output/train", "output_name": "train", "destination": "s3://o/t"},
        {"source": "/opt/ml/processing/output/test", "output_name": "test", "destination": "s3://o/e"},
    ]
    from dtrain.requests.processing_request import build_processing_job_request

    with pytest.raises(SpecError, match=r"processing\.run\.inputs\[0\]\.source: .*platform settings"):
        build_processing_job_request(parse_spec(spec), None)
