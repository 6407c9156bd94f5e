"""The local runner's pieces, without launching training: trees, channels, metrics, stopping.

The launch itself is the images' toolkits' (dtrain/local/host_chains.py); tests/training and
tests/local run it."""

from __future__ import annotations

import json
import os
import signal
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from dtrain.local.artifacts import pack_dirs
from dtrain.local.channels import populate_channels
from dtrain.local.config import LocalConfig
from dtrain.local.container_config import write_container_config
from dtrain.local.errors import LocalModeError
from dtrain.local.job import MPI_YIELD, LocalTrainingJob
from dtrain.local.layout import JobLayout
from dtrain.local.metrics import MetricLog
from dtrain.local.processes import ProcessSpec, launch, marked_pids, stop_all


def _request(flags: dict[str, str], *, channels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "TrainingJobName": "unit-job",
        "AlgorithmSpecification": {
            "TrainingImage": "dtrain-local/ddp:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": "train_loss=([0-9.eE+-]+)"}],
        },
        "HyperParameters": {
            "epochs": "2",
            "lr": "0.1",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"/opt/dtrain/code"',
            "sagemaker_region": '"us-east-1"',
            **flags,
        },
        "InputDataConfig": channels
        if channels is not None
        else [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://b/train",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        "CheckpointConfig": {"S3Uri": "s3://c/unit-job", "LocalPath": "/opt/ml/checkpoints"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def _layout(tmp_path: Path, hosts: int = 2) -> JobLayout:
    layout = JobLayout.for_job(tmp_path, "unit-job", hosts)
    layout.reset()
    return layout


def _envs(layout: JobLayout) -> dict[str, dict[str, str]]:
    return {t.name: {"SAGEMAKER_BASE_DIR": str(t.base), "SM_CURRENT_HOST": t.name} for t in layout.hosts}


def test_reset_keeps_the_checkpoint_store_and_links_every_host_to_it(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    (layout.checkpoint_store / "step-4.ckpt").write_text("state")
    (layout.hosts[0].model_dir / "old.pt").write_text("stale")

    layout.reset()

    assert not (layout.hosts[0].model_dir / "old.pt").exists()
    for tree in layout.hosts:
        assert (tree.checkpoint_dir / "step-4.ckpt").read_text() == "state"
        # Absolute: the same store when the host's tree is seen at /opt/ml (its mount namespace).
        assert tree.checkpoint_dir.readlink() == layout.checkpoint_store


def test_container_config_files_are_what_sagemaker_writes(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    request = _request({"sagemaker_torch_distributed_enabled": "true"})
    write_container_config(request, layout.hosts[1], ["algo-1", "algo-2"])
    config = layout.hosts[1].config_dir

    assert json.loads((config / "hyperparameters.json").read_text()) == request["HyperParameters"]
    resource = json.loads((config / "resourceconfig.json").read_text())
    assert resource["current_host"] == "algo-2" and resource["hosts"] == ["algo-1", "algo-2"]
    assert resource["instance_groups"][0]["hosts"] == ["algo-1", "algo-2"]
    assert json.loads((config / "inputdataconfig.json").read_text()) == {
        "train": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }
    assert json.loads((config / "checkpointconfig.json").read_text())["S3Uri"] == "s3://c/unit-job"


def test_channels_link_local_paths_fsx_and_efs_and_refuse_missing_ones(tmp_path: Path) -> None:
    fsx_root, efs_root, data = tmp_path / "fsx", tmp_path / "efs", tmp_path / "data"
    (fsx_root / "datasets" / "cifar").mkdir(parents=True)
    (efs_root / "sets" / "val").mkdir(parents=True)
    data.mkdir()
    channels = [
        {"ChannelName": "train", "DataSource": {"FileSystemDataSource": {
            "FileSystemId": "fs-0000000000000000a", "FileSystemType": "FSxLustre",
            "DirectoryPath": "/mnt1/datasets/cifar", "FileSystemAccessMode": "ro"}}},
        {"ChannelName": "val", "DataSource": {"FileSystemDataSource": {
            "FileSystemId": "fs-0000000000000000b", "FileSystemType": "EFS",
            "DirectoryPath": "/sets/val", "FileSystemAccessMode": "ro"}}},
        {"ChannelName": "extra", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{data}",
            "S3DataDistributionType": "FullyReplicated"}}},
    ]  # fmt: skip
    layout = _layout(tmp_path / "work")
    sources = populate_channels(
        _request({}, channels=channels),
        layout.hosts,
        channel_paths={},
        fs_mounts={"fsx": fsx_root, "efs": efs_root},
        download_dir=tmp_path / "dl",
    )
    assert sources == {
        "train": fsx_root / "datasets" / "cifar",
        "val": efs_root / "sets" / "val",
        "extra": data,
    }
    assert (layout.hosts[1].channel_dir("train")).resolve() == fsx_root / "datasets" / "cifar"

    with pytest.raises(LocalModeError, match=r"channel 'train': path .*nowhere does not exist"):
        populate_channels(
            _request({}, channels=channels[:1]),
            _layout(tmp_path / "work2").hosts,
            channel_paths={"train": tmp_path / "nowhere"},
            fs_mounts={},
            download_dir=tmp_path / "dl",
        )


def test_s3_channel_without_credentials_says_how_to_pass_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(LocalModeError) as caught:
        populate_channels(
            _request({}),
            _layout(tmp_path).hosts,
            channel_paths={},
            fs_mounts={},
            download_dir=tmp_path / "dl",
        )
    assert caught.value.cause == (
        "channel 'train': s3://b/train needs AWS credentials and none were found; or pass --data train=PATH"
    )


def test_metrics_follow_the_definitions_and_keep_the_last_value() -> None:
    log = MetricLog.for_request(_request({}))
    log.feed("algo-1", "epoch=1 step=5 train_loss=2.5 val_acc=0.1")
    log.feed("algo-1", "no metric here")
    log.feed("algo-1", "epoch=2 step=10 train_loss=1.25e-1")
    assert log.final() == {"train:loss": 0.125}
    assert [s.value for s in log.samples] == [2.5, 0.125]


def test_model_tar_holds_every_host_model_dir_first_host_wins(tmp_path: Path) -> None:
    one, two = tmp_path / "a", tmp_path / "b"
    (one / "sub").mkdir(parents=True)
    two.mkdir()
    (one / "model.pt").write_text("from algo-1")
    (one / "sub" / "vocab.txt").write_text("v")
    (two / "model.pt").write_text("from algo-2")
    (two / "extra.json").write_text("{}")
    archive = pack_dirs([one, two], tmp_path / "out" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["extra.json", "model.pt", "sub/vocab.txt"]
        member = tar.extractfile("model.pt")
        assert member is not None and member.read() == b"from algo-1"


def test_stop_all_leaves_no_process_even_when_children_leave_the_group(tmp_path: Path) -> None:
    # The child starts a new session (as torchrun's workers do): only the run marker finds it.
    script = (
        "import subprocess, time\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "time.sleep(300)\n"
    )
    spec = ProcessSpec(host="algo-1", argv=[sys.executable, "-c", script], env=dict(os.environ), cwd=tmp_path)
    process = launch(spec, "unit-run-marker", lambda host, line: None)
    deadline = time.monotonic() + 20
    while len(marked_pids("unit-run-marker")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    stop_all([process], "unit-run-marker", grace_seconds=1)

    assert process.poll() == -signal.SIGTERM
    assert marked_pids("unit-run-marker") == []


def test_config_file_maps_images_pythons_and_file_systems(tmp_path: Path) -> None:
    (tmp_path / "local.json").write_text(
        json.dumps({"python": {"horovod": "venv/bin/python"}, "file_systems": {"fsx": "fsx-root"},
                    "images": {"123.dkr.ecr.us-east-1.amazonaws.com/x:1": "ddp"}})
    )  # fmt: skip
    config = LocalConfig.load(tmp_path / "local.json")
    assert config.python_for("horovod") == str(tmp_path / "venv/bin/python")
    assert config.file_systems["fsx"] == tmp_path / "fsx-root"
    assert config.packaged_image("123.dkr.ecr.us-east-1.amazonaws.com/x:1") == "ddp"
    assert config.with_platform_images({"horovod": "999.dkr/y:2"}).packaged_image("999.dkr/y:2") == "horovod"
    (tmp_path / "bad.json").write_text('{"pythons": {}}')
    with pytest.raises(LocalModeError, match="unknown key"):
        LocalConfig.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("cores", "per_host", "caller", "threads", "yields"),
    [
        (2, 1, {}, "1", None),  # 2 ranks on 2 cores: not oversubscribed, Open MPI's own default
        (2, 2, {}, "1", "1"),  # 4 ranks on 2 cores: each host's mpirun thinks it has both
        (8, 2, {}, "2", None),
        (2, 2, {"OMPI_MCA_mpi_yield_when_idle": "0", "OMP_NUM_THREADS": "3"}, None, None),  # the caller's win
    ],
)
def test_simulated_hosts_sharing_the_cores_get_thread_counts_and_mpi_yield_to_match(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cores: int,
    per_host: int,
    caller: dict[str, str],
    threads: str | None,
    yields: str | None,
) -> None:
    """Two simulated hosts on one machine: OMP_NUM_THREADS splits its cores between their ranks,
    and with more ranks than cores Open MPI is told to yield while it waits (it cannot tell: each
    host's mpirun counts every core as its own), unless the caller set either."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    request = _request({"sagemaker_mpi_num_of_processes_per_host": str(per_host)})
    job = LocalTrainingJob(request, workdir=tmp_path, hosts=2, base_environ={"PATH": "/usr/bin", **caller})
    env = job._container_env()
    assert env.get("OMP_NUM_THREADS") == threads
    assert env.get(MPI_YIELD) == yields
