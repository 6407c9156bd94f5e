"""`dtrain validate | render | schema` and the examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.jobspec.distribution import STRATEGIES
from dtrain.jobspec.spec import load_spec
from dtrain.requests.training_request import build_training_job_request

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform_file(tmp_path: Path, platform: Any) -> Path:
    path = tmp_path / "platform.json"
    path.write_text(platform.to_json())
    return path


def test_every_example_validates_and_renders(example_paths: list[Path], platform: Any) -> None:
    strategies = set()
    for path in example_paths:
        spec = load_spec(path)
        request = build_training_job_request(spec, platform)
        assert request["TrainingJobName"].startswith("dtrain-")
        if spec.estimator.distribution is not None:
            strategies.add(spec.estimator.distribution.strategy)
    assert strategies == set(STRATEGIES), "one example per distribution strategy"
    names = {p.stem for p in example_paths}
    assert {"ddp_torchrun", "spot_checkpoints", "fsx_efs_s3_channels"} <= names


def test_the_spot_and_channel_examples_show_what_they_promise(platform: Any) -> None:
    spot = build_training_job_request(load_spec(REPO / "examples/spot_checkpoints.json"), platform)
    assert spot["EnableManagedSpotTraining"] is True
    assert (
        spot["StoppingCondition"]["MaxWaitTimeInSeconds"] >= spot["StoppingCondition"]["MaxRuntimeInSeconds"]
    )
    # Warm pools cannot be used with spot instances (dtrain.jobspec.service_rules): on-demand example.
    assert "KeepAlivePeriodInSeconds" not in spot["ResourceConfig"]
    assert spot["CheckpointConfig"]["S3Uri"].startswith(platform.checkpoint_s3_uri)
    channels = build_training_job_request(load_spec(REPO / "examples/fsx_efs_s3_channels.json"), platform)
    kinds = {
        next(iter(c["DataSource"].values())).get("FileSystemType", "S3") for c in channels["InputDataConfig"]
    }
    assert kinds == {"FSxLustre", "EFS", "S3"}
    assert "VpcConfig" in channels


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "examples/ddp_torchrun.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("ok: ") and "torch_distributed" in out


def test_validate_lists_every_error_one_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "framework": "pytorch",
                "estimator": {
                    "entry_point": "train_ddp.py",
                    "image_uri": "ddp",
                    "instance_type": "ml.g5.xlarge",
                    "instance_count": 2,
                    "use_spot_instances": True,
                    "max_run": 3600,
                    "max_wait": 1800,
                    "max_retries": 3,
                },
            }
        )
    )
    assert main(["validate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [
        "estimator.max_retries: 3: unknown key; did you mean 'max_retry_attempts'?",
        "estimator.max_wait: 1800: less than max_run 3600; spot jobs need max_wait >= max_run",
    ]


def test_validate_against_a_platform_file(platform_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["validate", str(REPO / "examples/fsx_efs_s3_channels.json"), "--platform", str(platform_file)])
        == 0
    )
    assert "platform " in capsys.readouterr().out


def test_render_prints_the_request(platform_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "render",
            str(REPO / "examples/ddp_torchrun.json"),
            "--platform",
            str(platform_file),
            "--job-name",
            "j-1",
        ]
    )
    assert code == 0
    request = json.loads(capsys.readouterr().out)
    assert request["TrainingJobName"] == "j-1"
    assert request["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"


def test_render_without_platform_names_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(REPO / "examples/ddp_torchrun.json")]) == 2
    err = capsys.readouterr().err
    for field in ("region", "estimator.role", "estimator.output_path", "estimator.image_uri"):
        assert any(line.startswith(f"{field}: ") for line in err.splitlines()), field


def test_render_reads_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "framework: pytorch\njob_name: yaml-job\nestimator:\n  entry_point: train.py\n"
        "  source_dir: s3://my-code/src.tar.gz\n"
        "  image_uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1\n"
        "  role: arn:aws:iam::123456789012:role/r\n  output_path: s3://my-out/jobs\n"
        "  instance_type: ml.g5.xlarge\n  instance_count: 1\n"
    )
    assert main(["render", str(spec), "--region", "us-east-1"]) == 0
    assert json.loads(capsys.readouterr().out)["TrainingJobName"] == "yaml-job"


def test_unreadable_and_malformed_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.json")]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"framework": ')
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the spec file" in err and "not valid JSON" in err


def test_schema_names_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    estimator = schema["properties"]["estimator"]
    assert "max_wait" in estimator["properties"] and estimator["additionalProperties"] is False


def test_examples_conform_to_the_schema(example_paths: list[Path]) -> None:
    # jsonschema comes with moto[all] (openapi-spec-validator); dtrain itself does not need it.
    import jsonschema

    from dtrain.jobspec.schema import job_spec_schema

    schema = job_spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in example_paths:
        errors = [e.message for e in validator.iter_errors(json.loads(path.read_text()))]
        assert errors == [], (path.name, errors)
    doc = json.loads(example_paths[0].read_text())
    doc["estimator"]["instance_typo"] = "ml.g5.xlarge"
    assert not validator.is_valid(doc)


@pytest.mark.slow
def test_cli_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"framework": "pytorch", "estimator": {"entry_point": "t.py"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "dtrain", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert any(
        line.startswith("estimator.instance_type: None: required") for line in proc.stderr.splitlines()
    )


@pytest.mark.slow
def test_core_import_loads_no_botocore_and_no_yaml() -> None:
    # The submit Lambda's cold start: botocore's model loads on first build, PyYAML only for .yaml.
    code = (
        "import sys, dtrain.jobspec.spec, dtrain.requests.training_request, dtrain.jobspec.platform\n"
        "import dtrain.jobspec.naming, dtrain.jobspec.errors\n"
        "heavy = [m for m in ('botocore', 'boto3', 'yaml', 'rich') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == ""


def _sweep_spec(tmp_path: Path, name: str) -> Path:
    """200 items of 13 numeric hyperparameters named `<name>_NN` (tests/lambda/test_submit_job.py's)."""
    spec = json.loads((REPO / "examples/ddp_torchrun.json").read_text())
    spec["sweep"] = {
        "max_concurrency": 40,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [
            {f"{name}_{k:02d}": round(0.000123456789 * (i + k + 1), 12) for k in range(13)}
            for i in range(200)
        ],
    }
    path = tmp_path / f"sweep-{name}.json"
    path.write_text(json.dumps(spec))
    return path


def test_validate_refuses_a_sweep_whose_state_prepare_would_refuse(
    tmp_path: Path, platform_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 26: validate accepted a sweep whose Step Functions state Prepare refuses (over
    256 KiB less the margin); both now apply one function (dtrain.orchestration.execution_plan)."""
    from dtrain.jobspec.errors import SpecError
    from dtrain.jobspec.platform import PlatformSettings
    from dtrain.orchestration.submit import prepare

    too_large = _sweep_spec(tmp_path, "a_rather_long_hyperparameter_name")
    for platform_args in ([], ["--platform", str(platform_file)]):
        assert main(["validate", str(too_large), *platform_args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sweep.overrides: '200 items': the sweep's Step Functions state would reach"), (
            err
        )
        assert "the limit is 262,144 (256 KiB)" in err
    platform = PlatformSettings.from_file(str(platform_file))
    with pytest.raises(SpecError, match=r"sweep\.overrides: '200 items'"):
        prepare(json.loads(too_large.read_text()), platform, region="us-east-1")
    # The same width with short names fits: validate and Prepare both accept it.
    fits = _sweep_spec(tmp_path, "hp")
    assert main(["validate", str(fits), "--platform", str(platform_file)]) == 0
    assert prepare(json.loads(fits.read_text()), platform, region="us-east-1")["is_sweep"]


def test_submit_refuses_the_same_sweep_before_anything_is_uploaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dtrain submit`'s own check (dtrain.remote.spec_check) applies the same function."""
    from dtrain.remote.spec_check import SpecRejected, check_against_platform

    too_large = json.loads(_sweep_spec(tmp_path, "a_rather_long_hyperparameter_name").read_text())
    with pytest.raises(SpecRejected, match="nothing was submitted"):
        check_against_platform(too_large, None, "dtrain-sweep")
    assert "sweep.overrides: '200 items'" in capsys.readouterr().err
