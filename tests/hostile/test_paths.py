"""Paths built from user input stay inside their root; nothing is removed that the job did not make.

The class: an S3 key, a processing LocalPath, a job name or an archive member becomes a path of
local mode (the S3 stand-in `<workdir>/s3/<bucket>/`, a host's /opt/ml tree, the job folders).
A spec is refused at `validate` where the spec decides the path (one line naming the field,
exit 2); a request that reaches local mode by another way (CreateProcessingJob sent to the
emulator) is refused there. Every case plants a `victim` folder beside the work directory and
checks that it is still whole afterwards. Outputs follow S3: an upload never deletes objects.
"""

from __future__ import annotations

import io
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.local.errors import LocalModeError
from dtrain.local.processing_job import run_processing_locally, stand_in_path
from dtrain.ports import free_port
from tests.hostile.support import Outcome, write_processing_spec

WRITE_OUTPUT = "import sys, pathlib; pathlib.Path(sys.argv[1], 'result.txt').write_text('made by the job')"


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Path]:
    """A folder outside the work directory (tmp_path/w) that must survive every case."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    yield folder
    assert (folder / "precious.txt").read_text() == "keep me", "a file outside the work directory changed"
    assert sorted(p.name for p in folder.iterdir()) == ["precious.txt"], "something was written outside"


def _spec(tmp_path: Path, *, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
          code: str = "prep.py") -> Path:  # fmt: skip
    default_outputs = [
        {"source": "/opt/ml/processing/output/o", "output_name": "o", "destination": "s3://bucket/out"}
    ]
    run = {"code": code, "inputs": inputs or [], "outputs": outputs or default_outputs}
    return write_processing_spec(
        tmp_path, job_name="paths", script="print('prep')\n", run=run, train_script="print('train')\n"
    )


# Where the spec decides the path, `validate` refuses it: one line naming the field, exit 2.
SPEC_CASES = {
    "output-destination-dotdot-bucket": (
        {"outputs": [{"source": "/opt/ml/processing/output/o", "destination": "s3://../../victim"}]},
        "processing.run.outputs[0].destination",
    ),
    "output-destination-dotdot-key": (
        {
            "outputs": [
                {"source": "/opt/ml/processing/output/o", "destination": "s3://bucket/../../../victim"}
            ]
        },
        "processing.run.outputs[0].destination",
    ),
    "output-destination-dot-key": (
        {"outputs": [{"source": "/opt/ml/processing/output/o", "destination": "s3://bucket/./x"}]},
        "processing.run.outputs[0].destination",
    ),
    "input-source-dotdot": (
        {"inputs": [{"source": "s3://bucket/../../victim", "destination": "/opt/ml/processing/input/i"}]},
        "processing.run.inputs[0].source",
    ),
    "input-destination-dotdot": (
        {"inputs": [{"source": "s3://bucket/in", "destination": "/opt/ml/processing/../../../victim"}]},
        "processing.run.inputs[0].destination",
    ),
    "output-source-dotdot": (
        {"outputs": [{"source": "/opt/ml/processing/../../victim", "destination": "s3://bucket/o"}]},
        "processing.run.outputs[0].source",
    ),
    "code-s3-dotdot": ({"code": "s3://../../victim/prep.py"}, "processing.run.code"),
}


@pytest.mark.parametrize(("change", "field"), SPEC_CASES.values(), ids=SPEC_CASES.keys())
@pytest.mark.parametrize("command", ["validate", "local"])
def test_a_path_leaving_its_root_is_refused_by_the_spec(
    cli: Callable[..., Outcome], tmp_path: Path, victim: Path, command: str, change: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    spec = _spec(tmp_path, **change)
    extra = ["--workdir", str(tmp_path / "w"), "--no-live"] if command == "local" else []
    outcome = cli(command, str(spec), *extra)
    line = outcome.one_line_error(2, field)
    assert "s3://" in line or "/opt/ml/processing" in line


OUT = "/opt/ml/processing/output/o"
IN = "/opt/ml/processing/input/raw"


def _request(tmp_path: Path, *, output_uri: str = "s3://bucket/out", output_path: str = OUT,
             input_path: str = IN, name: str = "paths-1") -> dict[str, Any]:  # fmt: skip
    """A CreateProcessingJob request as the emulator hands it over: no spec checks in front."""
    return {
        "ProcessingJobName": name,
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "img", "ContainerEntrypoint": ["python3", "-c", WRITE_OUTPUT],
                             "ContainerArguments": [output_path]},
        "RoleArn": "arn:aws:iam::000000000000:role/r",
        "ProcessingInputs": [{"InputName": "raw", "AppManaged": False,
                              "S3Input": {"S3Uri": "s3://bucket/raw", "LocalPath": input_path,
                                          "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "AppManaged": False,
                                                "S3Output": {"S3Uri": output_uri, "LocalPath": output_path,
                                                             "S3UploadMode": "EndOfJob"}}]},
    }  # fmt: skip


def _stand_in(work: Path) -> Path:
    raw = work / "s3" / "bucket" / "raw"
    raw.mkdir(parents=True)
    (raw / "a.bin").write_bytes(b"input data")
    (work / "s3" / "bucket" / "other.txt").write_text("another object of the bucket")
    return raw


# The same paths arriving as a request (the emulator's CreateProcessingJob): refused before
# anything is removed, written or started.
REQUEST_CASES = {
    "output-uri-dotdot-bucket": {"output_uri": "s3://../../victim"},
    "output-uri-dotdot-key": {"output_uri": "s3://bucket/../../../victim"},
    "output-uri-no-bucket": {"output_uri": "s3:///victim"},
    "output-localpath-dotdot": {"output_path": "/opt/ml/processing/../../../../../../victim"},
    "input-localpath-dotdot": {"input_path": "/opt/ml/processing/../../../../../../victim"},
    "input-localpath-outside-opt-ml": {"input_path": "/tmp/elsewhere"},
    "job-name-dotdot": {"name": "../../victim"},
}


@pytest.mark.parametrize("change", REQUEST_CASES.values(), ids=REQUEST_CASES.keys())
def test_a_request_whose_paths_leave_their_root_is_refused(
    tmp_path: Path, victim: Path, change: dict[str, str]
) -> None:
    work = tmp_path / "w"
    _stand_in(work)
    with pytest.raises(LocalModeError) as refused:
        run_processing_locally(_request(tmp_path, **change), workdir=work, python=sys.executable)
    cause = refused.value.cause
    assert "\n" not in cause and any(word in cause for word in ("leads outside", "must be under", "not a"))
    assert not (work / "processing").exists(), "nothing is made before the paths are checked"


def test_stand_in_path_stays_in_the_bucket(tmp_path: Path) -> None:
    root = tmp_path / "s3"
    assert stand_in_path(root, "s3://bucket/a/b") == root / "bucket" / "a" / "b"
    assert stand_in_path(root, "s3://bucket") == root / "bucket"
    for uri in ("s3://../x", "s3://./x", "s3://bucket/../other/x", "s3://bucket/a/../../x", "s3:///x"):
        with pytest.raises(LocalModeError):
            stand_in_path(root, uri)


def test_an_output_to_the_bucket_root_keeps_the_buckets_other_objects(tmp_path: Path) -> None:
    """S3 never deletes on upload: the job's output lands beside the inputs, which stay."""
    work = tmp_path / "w"
    raw = _stand_in(work)
    result = run_processing_locally(_request(tmp_path, output_uri="s3://bucket"), workdir=work)
    assert result.status == "Completed", result.log.read_text()
    bucket = work / "s3" / "bucket"
    assert (raw / "a.bin").read_bytes() == b"input data"
    assert (bucket / "other.txt").read_text() == "another object of the bucket"
    assert (bucket / "result.txt").read_text() == "made by the job"


def test_an_output_prefix_keeps_objects_the_job_did_not_write(tmp_path: Path) -> None:
    work = tmp_path / "w"
    _stand_in(work)
    earlier = work / "s3" / "bucket" / "out" / "earlier.txt"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("an object from before")
    result = run_processing_locally(_request(tmp_path), workdir=work)
    assert result.status == "Completed", result.log.read_text()
    assert earlier.read_text() == "an object from before"
    assert (earlier.parent / "result.txt").read_text() == "made by the job"


def test_an_s3_key_with_dotdot_is_not_downloaded_outside_its_folder(
    tmp_path: Path, victim: Path, aws_env: None
) -> None:
    """S3 stores `data/../../victim/x` as that key; local mode must not write it as a path."""
    import boto3
    from moto import mock_aws

    from dtrain.local.s3 import download_prefix

    dest = tmp_path / "w" / "channel"
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bucket")
        s3.put_object(Bucket="bucket", Key="data/ok.txt", Body=b"fine")
        s3.put_object(Bucket="bucket", Key="data/../../victim/evil.txt", Body=b"evil")
        with pytest.raises(LocalModeError) as refused:
            download_prefix("s3://bucket/data", dest, what="channel 'train'", hint="--data")
    assert "leads outside" in refused.value.cause and "data/../../victim/evil.txt" in refused.value.cause
    assert not (tmp_path / "victim" / "evil.txt").exists()


def _archive(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


ARCHIVE_CASES = {
    "member-dotdot": ({"../../victim/evil.txt": b"x", "model.pth": b"m"}, None),
    "link-out": ({}, {"code": "../../victim"}),
}


@pytest.mark.parametrize(("members", "links"), ARCHIVE_CASES.values(), ids=ARCHIVE_CASES.keys())
def test_a_model_archive_member_leaving_the_model_folder_is_refused(
    cli: Callable[..., Outcome], tmp_path: Path, victim: Path, members: dict[str, bytes],
    links: dict[str, str] | None,
) -> None:  # fmt: skip
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_archive(members, links))
    outcome = cli("serve", str(archive), "--port", "0")
    outcome.one_line_error(2, "MODEL", "not a readable model.tar.gz")


def test_the_emulator_never_adopts_a_tmp_folder_it_did_not_make(
    cli_process: Callable[..., Outcome], tmp_path: Path, case_env: dict[str, str]
) -> None:
    """Its scratch TMPDIR is removed when it stops: a user's own `<workdir>/tmp` is refused."""
    case_env["DTRAIN_STATE_DIR"] = str(tmp_path / "state")
    workdir = tmp_path / "w"
    (workdir / "tmp").mkdir(parents=True)
    (workdir / "tmp" / "notes.txt").write_text("the user's")
    outcome = cli_process("emulate", "serve", "--port", str(free_port()), "--workdir", str(workdir))
    outcome.one_line_error(1, "--workdir", "not the emulator's scratch folder")
    assert (workdir / "tmp" / "notes.txt").read_text() == "the user's"


def test_the_emulator_refuses_a_processing_job_name_that_is_a_path(
    tmp_path: Path, victim: Path, aws_env: None
) -> None:
    """CreateProcessingJob with ProcessingJobName "../../victim": SageMaker's name pattern refuses
    it (ValidationException, the lifecycle gate's answer) before any folder of local mode is
    named after it. About 10 s on a busy machine: moto's SageMaker imports (only the gate and the
    processing shims are installed)."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from dtrain.emulator import processing_backend
    from dtrain.emulator.class_patches import class_patches
    from dtrain.emulator.lifecycle import Lifecycle, gate
    from dtrain.emulator.sagemaker import EventPlaybackBackend

    request = _request(tmp_path)
    del request["ProcessingJobName"]
    # Only the lifecycle gate, which refuses it, and the processing shims behind it (the whole
    # emulator's take half a minute to install).
    with class_patches() as patch:
        gate.install(patch, Lifecycle())
        processing_backend.install(patch, EventPlaybackBackend())
        with mock_aws(), pytest.raises(ClientError) as refused:
            boto3.client("sagemaker").create_processing_job(ProcessingJobName="../../victim", **request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "processingJobName" in refused.value.response["Error"]["Message"]
