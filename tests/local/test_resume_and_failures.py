"""Kill-and-resume through `dtrain local`, and bad input: one-line cause, non-zero exit, job dir kept."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtrain.cli import main
from dtrain.jobspec.spec import parse_spec
from dtrain.local import LocalTrainingJob
from dtrain.local.config import LocalConfig, repo_root
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request
from tests.example_runs import pids_under

EXAMPLE = repo_root() / "examples" / "ddp_torchrun.json"
JOB = "dtrain-cifar10-ddp-torchrun"
TINY = ["--set", "epochs=1", "--set", "batch_size=16", "--set", "width=4", "--set", "max_steps=2"]


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_a_rerun_resumes_from_the_checkpoint(
    cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["local", str(EXAMPLE), "--workdir", str(tmp_path), "--no-live", "--hosts", "2"]
    args += ["--data", f"train={cifar_dir}", "--data", f"test={cifar_dir}"]
    hps = ["--set", "batch_size=16", "--set", "width=4", "--set", "log_every_steps=1"]
    long_run = [
        *args,
        *hps,
        "--set",
        "epochs=100",
        "--set",
        "max_steps=1000",
        "--set",
        "checkpoint_every_steps=2",
    ]
    cli = subprocess.Popen(
        [sys.executable, "-m", "dtrain", *long_run],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    store = tmp_path / "jobs" / JOB / "checkpoints"
    deadline = time.monotonic() + 240
    while not any(p.name.startswith("step-") for p in store.glob("step-*")):
        assert cli.poll() is None, cli.stdout.read() if cli.stdout else ""
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.5)
    cli.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = cli.communicate(timeout=120)
    assert cli.returncode == 130, output[-2000:]
    assert "stopping every process" in output
    assert pids_under(tmp_path / "jobs" / JOB) == [], "no orphans after Ctrl-C"
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in store.glob("step-*.ckpt"))
    assert saved, "the checkpoint store survives the stopped run"

    resume_to = max(saved) + 2
    code = main([*args, *hps, "--set", "epochs=100", "--set", f"max_steps={resume_to}"])

    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert f"resumed from step {max(saved)}" in out.out
    assert f"step={resume_to}" in out.out


def test_missing_channel_path_is_a_usage_error_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A --data path that does not exist is a bad argument (exit 2, issue 15), refused before any
    # job directory is prepared.
    missing = tmp_path / "no-such-data"
    code = main(
        ["local", str(EXAMPLE), "--workdir", str(tmp_path), "--no-live", "--data", f"train={missing}"]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"error: --data train={missing}: no such file or directory"]
    assert not (tmp_path / "jobs").exists()


@pytest.mark.slow
def test_a_machine_without_iproute2_refuses_a_multi_host_job_in_one_line(
    cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    example = repo_root() / "examples" / "ddp_pytorchddp.json"  # two hosts
    data = ["--data", f"train={cifar_dir}", "--data", f"test={cifar_dir}"]
    code = main(["local", str(example), "--workdir", str(tmp_path), "--no-live", *data, *TINY])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "dtrain local: ClientError: 2 simulated hosts need a network namespace each and iproute2's ip and "
        "util-linux's unshare are not installed (scripts/install_system_deps.sh); run with --hosts 1 "
        "(one host runs without one)"
    )
    assert (tmp_path / "jobs" / "dtrain-cifar10-ddp-mpirun").is_dir()


@pytest.mark.slow
def test_training_script_that_raises_gives_its_exception_as_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(
        "import os\nprint('host', os.environ['SM_CURRENT_HOST'])\n"
        "raise ValueError('learning rate must be positive')\n"
    )
    spec = {
        "framework": "pytorch",
        "job_name": "raises",
        "estimator": {
            "entry_point": "train.py",
            "source_dir": str(source),
            "image_uri": "ddp",
            "instance_type": "ml.m5.large",
            "instance_count": 1,
        },
        "inputs": {},
    }
    spec_file = tmp_path / "raises.json"
    spec_file.write_text(json.dumps(spec))

    code = main(["local", str(spec_file), "--workdir", str(tmp_path), "--no-live"])

    captured = capsys.readouterr()
    assert code == 1
    last = captured.err.strip().splitlines()[-1]
    # The toolkit's own report (its output/failure, SageMaker's FailureReason), on one line.
    assert last.startswith("dtrain local: AlgorithmError: ExecuteUserScriptError: ExitCode 1 ErrorMessage")
    assert "learning rate must be positive" in last and 'Command "' in last
    log = tmp_path / "jobs" / "dtrain-raises" / "logs" / "algo-1.log"
    assert "Traceback" in log.read_text()
    assert os.path.isdir(tmp_path / "jobs" / "dtrain-raises" / "algo-1" / "code")


@pytest.mark.slow
def test_a_stopped_mpirun_job_checkpoints_at_the_stop_and_ends_within_the_grace(
    cifar_dir: Path, tmp_path: Path
) -> None:
    """StopTrainingJob on the ddp image's pytorchddp launch (the toolkit's mpirun, two ranks),
    through the image's entry chain: rank 0 checkpoints at the step it stops at, no step lost, and
    the chain ends by itself within the grace (the entry script ends the toolkit's 30 s sleep after
    mpirun, sagemaker_training/smdataparallel.py run, once the stop's ranks are gone). Slow (~30 s:
    the toolkit and two ranks start, a few steps, the stop). When the entry script left the
    SIGTERM to mpirun (Open MPI 4.1 sends it on to the ranks only after odls_base_sigkill_timeout,
    30 s, forwarding no output meanwhile, and exits 1), the ranks blocked on their output and no
    checkpoint was written: the chain exited 1, 60 s after the stop."""
    raw = json.loads((repo_root() / "examples" / "ddp_pytorchddp.json").read_text())
    raw["estimator"]["instance_count"] = 1
    # No checkpoint but the stop's within the run: whatever is on disk is the stop's.
    every = 500
    raw["estimator"]["hyperparameters"].update(
        {"epochs": 100, "batch_size": 16, "width": 4, "max_steps": 1000, "log_every_steps": 1,
         "checkpoint_every_steps": every}
    )  # fmt: skip
    request = build_training_job_request(parse_spec(raw), local_platform_settings())
    lines: list[str] = []
    job = LocalTrainingJob(
        request,
        workdir=tmp_path,
        channel_paths={"train": cifar_dir, "test": cifar_dir},
        log_sink=lambda host, line: lines.append(line),
        config=LocalConfig(processes_per_host=2, stop_grace_seconds=90),
    )
    job.start()
    deadline = time.monotonic() + 240
    metric = re.compile(r"mpirank:0,algo-1\]<stdout>:epoch=\d+ step=(\d+)")
    while not (steps := [int(s) for s in metric.findall("\n".join(lines))]) or max(steps) < 3:
        assert job.status == "InProgress" and time.monotonic() < deadline, "\n".join(lines[-40:])
        time.sleep(0.05)
    reached = max(steps)
    job.stop()
    result = job.result()

    text = "\n".join(lines)
    assert result.status == "Stopped", text[-3000:]
    stopped = re.search(r"mpirank:0,algo-1\]<stdout>:SIGTERM: stopping at step (\d+)", text)
    assert stopped is not None, text[-3000:]
    step = int(stopped.group(1))
    saved = sorted(p.name for p in (result.job_dir / "checkpoints").glob("step-*.ckpt"))
    assert saved == [f"step-{step:09d}.ckpt"], text[-3000:]
    # Steps lost: none logged before the stop (at most `every` may be, by the trainer's contract).
    assert step >= reached, text[-3000:]
    # Ended by itself (a chain still running at the grace's end is killed): mpirun exited 0.
    assert list(result.exit_codes.values()) == [0], (result.exit_codes, text[-3000:])
