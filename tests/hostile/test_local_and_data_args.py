"""Bad arguments to `dtrain local` and `dtrain data`, and specs whose code is not there:
refused before anything starts, one line naming the argument or field, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.support import Outcome

CUSTOM_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"


def _spec(tmp_path: Path, **estimator: object) -> Path:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "train.py").write_text("print('hi')\n")
    fields = {"entry_point": "train.py", "source_dir": "src", "image_uri": "ddp",
              "instance_type": "ml.m5.large", "instance_count": 1, **estimator}  # fmt: skip
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"framework": "pytorch", "job_name": "hostile", "estimator": fields}))
    return path


# argparse's own refusals: usage lines, then the error naming the argument, exit 2.
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--procs-per-host", "0"], "--procs-per-host: 0: must be 1..64"),
        (["--procs-per-host", "-1"], "--procs-per-host: -1: must be 1..64"),
        (["--hosts", "0"], "--hosts: 0: must be 1..32"),
        (["--hosts", "10000"], "--hosts: 10000: must be 1..32"),
        (["--hosts", "two"], "--hosts: 'two': not an integer"),
    ],
)
def test_local_argument_out_of_range_is_a_usage_error(
    cli: Callable[..., Outcome], tmp_path: Path, args: list[str], needle: str
) -> None:
    outcome = cli("local", str(_spec(tmp_path)), "--workdir", str(tmp_path / "w"), *args)
    assert outcome.code == 2 and "Traceback" not in outcome.stderr
    assert needle in outcome.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("extra", "estimator", "needle"),
    [
        (["--data", "unknown=/tmp"], {}, "no channel 'unknown'"),
        (["--data", "noequals"], {}, "expected NAME=VALUE"),
        (["--workdir", "FILE"], {}, "not a directory"),
        ([], {"instance_count": 10000}, "at most 32 hosts"),
    ],
    ids=["data-unknown-channel", "data-not-a-pair", "workdir-is-a-file", "instance-count-10000"],
)
def test_local_refuses_before_starting(
    cli: Callable[..., Outcome], tmp_path: Path, extra: list[str], estimator: dict[str, object], needle: str
) -> None:
    spec = _spec(tmp_path, **estimator)
    (tmp_path / "FILE").write_text("")
    extra = [str(tmp_path / "FILE") if a == "FILE" else a for a in extra]
    args = [
        "local",
        str(spec),
        "--no-live",
        *(["--workdir", str(tmp_path / "w")] if "--workdir" not in extra else []),
        *extra,
    ]
    cli(*args).one_line_error(2, needle)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("command", ["validate", "render", "local", "submit"])
@pytest.mark.parametrize(
    ("estimator", "field", "needle"),
    [
        ({"source_dir": "missing"}, "estimator.source_dir", "no such directory"),
        ({"source_dir": "src/train.py"}, "estimator.source_dir", "is a file"),
        ({"entry_point": "nope.py"}, "estimator.entry_point", "no such file in source_dir"),
        ({"entry_point": "../../x.py"}, "estimator.entry_point", "inside source_dir"),
        ({"entry_point": "/etc/passwd"}, "estimator.entry_point", "relative to source_dir"),
        ({"entry_point": "lone.py", "source_dir": None, "image_uri": CUSTOM_IMAGE},
         "estimator.entry_point", "no such file to upload"),
    ],
    ids=["source-dir-missing", "source-dir-is-file", "entry-missing", "entry-escapes", "entry-absolute",
         "lone-entry-missing"],
)  # fmt: skip
def test_code_that_is_not_there_is_refused_by_every_command(
    cli: Callable[..., Outcome], tmp_path: Path, command: str, estimator: dict[str, object], field: str,
    needle: str,
) -> None:  # fmt: skip
    fields = {k: v for k, v in estimator.items() if v is not None}
    spec = _spec(tmp_path, **fields)
    if estimator.get("source_dir", "") is None:
        raw = json.loads(spec.read_text())
        raw["estimator"].pop("source_dir")
        spec.write_text(json.dumps(raw))
    args = [command, str(spec)] + (["--workdir", str(tmp_path / "w")] if command == "local" else [])
    trailer = "nothing was submitted" if command == "submit" else None
    cli(*args).one_line_error(2, field, needle, trailer=trailer)


def test_entry_point_linking_out_of_source_dir_is_refused(
    cli: Callable[..., Outcome], tmp_path: Path
) -> None:
    spec = _spec(tmp_path, entry_point="evil.py")
    (tmp_path / "outside.py").write_text("print('outside')\n")
    (tmp_path / "src" / "evil.py").symlink_to(tmp_path / "outside.py")
    cli("validate", str(spec)).one_line_error(2, "estimator.entry_point", "outside source_dir")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["FILE"], 2, "not a directory"),
        (["DIR", "--train", "100000000"], 2, "--train must be at least 1 and at most 50000"),
        (["DIR", "--train", "0"], 2, "--train must be at least 1 and at most 50000"),
        (["DIR", "--test", "-1"], 2, "--test at least 0 and at most 10000"),
        (["FILE/sub"], 2, "cannot create the directory"),
    ],
    ids=["onto-a-file", "train-huge", "train-zero", "test-negative", "under-a-file"],
)
def test_data_sample_bad_arguments(
    cli: Callable[..., Outcome], tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    (tmp_path / "FILE").write_text("")
    args = [a.replace("FILE", str(tmp_path / "FILE")).replace("DIR", str(tmp_path / "d")) for a in args]
    cli("data", "cifar10-sample", *args).one_line_error(code, "dtrain data:", needle)


@pytest.mark.parametrize("region", ["not a region", "us-east", "US-EAST-1", "us-east-1\n"])
def test_render_region_must_be_a_region_name(
    cli: Callable[..., Outcome], tmp_path: Path, region: str
) -> None:
    cli("render", str(_spec(tmp_path)), "--region", region).one_line_error(2, "--region", "region name")


def test_render_accepts_a_real_region(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    outcome = cli("render", str(_spec(tmp_path)), "--region", "eu-west-1")
    assert "--region" not in outcome.stderr  # (refused for lacking platform settings, not the region)


def test_job_stopped_at_max_run_says_why(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    """The script ignores SIGTERM (it is its host's PID 1 with no handler, so the kernel drops the
    signal), so the stop waits out the grace period before its SIGKILL. The grace is 2 s here,
    not SageMaker's 120 s: left at 120 the test waited for the script's own 60 s sleep to end
    (64 s per run); the kill after the grace is what ends the job now, in a few seconds."""
    spec = _spec(tmp_path, max_run=1)
    (tmp_path / "src" / "train.py").write_text("import time\nprint('long', flush=True)\ntime.sleep(60)\n")
    config = tmp_path / "local.json"
    config.write_text(json.dumps({"stop_grace_seconds": 2}))
    args = ("local", str(spec), "--no-live", "--workdir", str(tmp_path / "w"), "--config", str(config))
    outcome = cli(*args)
    assert outcome.code == 1
    assert outcome.seconds < 40, f"the stop waited for the script's sleep: {outcome.seconds:.1f} s"
    last = outcome.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "dtrain local: Stopped: the job ran past estimator.max_run (1 s, MaxRuntimeInSeconds)"
    )


def test_failed_torch_distributed_job_is_labelled_with_its_distribution(
    cli: Callable[..., Outcome], tmp_path: Path
) -> None:
    # The channel cannot be fetched, so the job fails before anything is launched.
    spec = _spec(
        tmp_path, distribution={"torch_distributed": {"enabled": True}}, instance_type="ml.g5.xlarge"
    )
    raw = json.loads(spec.read_text())
    raw["inputs"] = {"train": "s3://dtrain-hostile-no-such-bucket/train"}
    spec.write_text(json.dumps(raw))
    dead = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "DTRAIN_AWS_TIMEOUT": "0.5"}
    outcome = cli("local", str(spec), "--no-live", "--workdir", str(tmp_path / "w"), extra_env=dead)
    assert outcome.code == 1, outcome.stderr
    assert "(torch_distributed, 0s training)" in outcome.stderr
    assert "no distribution" not in outcome.stderr
