"""Every bad argument to `serve` and `predict`, and a processing command that is missing or
fails: one line on stderr naming the argument or the cause, the CLI's exit code, no traceback.

The class: input a command could only choke on later (a URL the HTTP library cannot parse, a
header with a newline, a time-out that is not a duration, an output path that cannot be
written, an archive cut short) or a step of the job that fails outside dtrain's code. Exit
codes (dtrain/remote/errors.py): 1 the job or the model failed, 2 usage, 3 cannot reach.
A failing processing command's own output is shown (stdout), then the one line (stderr).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dtrain.ports import free_port
from tests.hostile.support import PREP_RUN, HostileServer, Outcome, write_processing_spec


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "in.json"
    path.write_text("[1, 2, 3]")
    return path


PREDICT_CASES = {
    # (arguments after TARGET FILE, target or None for the test's URL, exit code, needles)
    "url-no-host": ([], "http://", 2, ["ENDPOINT_OR_URL", "http(s)://HOST"]),
    "url-bad-port": ([], "http://127.0.0.1:99999", 2, ["ENDPOINT_OR_URL", "99999"]),
    "url-port-not-a-number": ([], "http://127.0.0.1:http", 2, ["ENDPOINT_OR_URL"]),
    "url-with-space": ([], "http://127.0.0.1:1/a b", 2, ["ENDPOINT_OR_URL", "spaces"]),
    "url-dead-port": ([], "dead", 3, ["cannot reach"]),
    "content-type-newline": (
        ["--content-type", "application/json\r\nX-Evil: 1"],
        None,
        2,
        ["--content-type"],
    ),
    "content-type-non-ascii": (["--content-type", "application/jsön"], None, 2, ["--content-type"]),
    "accept-newline": (["--accept", "a\nb"], None, 2, ["--accept"]),
    "content-type-unguessable": ([], None, 2, ["--content-type"]),
    "timeout-zero": (["--timeout", "0"], None, 2, ["--timeout"]),
    "timeout-negative": (["--timeout", "-5"], None, 2, ["--timeout"]),
    "timeout-nan": (["--timeout", "nan"], None, 2, ["--timeout"]),
    "timeout-inf": (["--timeout", "inf"], None, 2, ["--timeout"]),
    "timeout-word": (["--timeout", "soon"], None, 2, ["--timeout", "soon"]),
    "output-into-missing-folder": (
        ["-o", "{tmp}/no/such/dir/out.json"],
        None,
        2,
        ["--output", "no such directory"],
    ),
    "output-is-a-folder": (["-o", "{tmp}"], None, 2, ["--output", "directory"]),
    "output-ends-with-slash": (["-o", "{tmp}/new/"], None, 2, ["--output", "directory"]),
    "file-missing": ([], None, 2, ["FILE"]),
    "file-is-a-folder": ([], None, 2, ["FILE"]),
}


@pytest.mark.parametrize(
    ("extra", "target", "code", "needles"), PREDICT_CASES.values(), ids=PREDICT_CASES.keys()
)
def test_predict_bad_argument_is_one_line(
    cli: Callable[..., Outcome], tmp_path: Path, body: Path, hostile_server: Callable[[str], HostileServer],
    extra: list[str], target: str | None, code: int, needles: list[str], request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    case = request.node.callspec.id
    url = target or hostile_server("html").url
    if target == "dead":
        url = f"http://127.0.0.1:{free_port()}"
    file = str(body)
    if case == "content-type-unguessable":
        file = str(tmp_path / "data.bin")
        Path(file).write_bytes(b"\x00")
    elif case == "file-missing":
        file = str(tmp_path / "missing.json")
    elif case == "file-is-a-folder":
        (tmp_path / "folder.json").mkdir()
        file = str(tmp_path / "folder.json")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    outcome = cli("predict", url, file, *args)
    if outcome.code == 2 and "usage:" in outcome.stderr:  # argparse: usage, then the one error line
        lines = [line for line in outcome.stderr.splitlines() if line.strip() and not line.startswith(" ")]
        assert "Traceback" not in outcome.stderr and lines[-1].startswith("dtrain predict: error:")
        for needle in needles:
            assert needle in lines[-1]
        return
    outcome.one_line_error(code, *needles)


def _truncated_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"x" * 200_000
        info = tarfile.TarInfo("model.pth")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(bytes(range(256)) * 800))
        code = b"def model_fn(d):\n    return None\n"
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        tar.addfile(info, io.BytesIO(code))
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


SERVE_CASES = {
    "archive-truncated": (lambda p: p.write_bytes(_truncated_archive()), [], 2, ["MODEL", "not a readable"]),
    "archive-not-gzip": (lambda p: p.write_bytes(b"PK\x03\x04 a zip"), [], 2, ["MODEL", "not a readable"]),
    "archive-empty": (lambda p: p.write_bytes(b""), [], 2, ["MODEL", "not a readable"]),
    "archive-gzip-of-garbage": (lambda p: p.write_bytes(gzip.compress(b"\xff" * 1000)), [], 2, ["MODEL"]),
    "model-missing": (None, [], 2, ["MODEL", "no such file"]),
    "host-with-space": (None, ["--host", "bad host"], 2, ["--host"]),
    "host-empty": (None, ["--host", ""], 2, ["--host"]),
    "env-bad-key": (None, ["--env", "1X=y"], 2, ["--env"]),
    "env-no-key": (None, ["--env", "=y"], 2, ["--env"]),
    "port-negative": (None, ["--port", "-1"], 2, ["--port"]),
    "workers-zero": (None, ["--workers", "0"], 2, ["--workers"]),
}


@pytest.mark.parametrize(("make", "extra", "code", "needles"), SERVE_CASES.values(), ids=SERVE_CASES.keys())
def test_serve_bad_argument_is_one_line(
    cli: Callable[..., Outcome], tmp_path: Path, make: Callable[[Path], object] | None, extra: list[str],
    code: int, needles: list[str],
) -> None:  # fmt: skip
    model = tmp_path / "model.tar.gz"
    if make is not None:
        make(model)
    outcome = cli("serve", str(model), "--port", "0", *extra)
    if "usage:" in outcome.stderr:  # argparse's own refusal
        lines = [line for line in outcome.stderr.splitlines() if line.strip() and not line.startswith(" ")]
        assert outcome.code == 2 and "Traceback" not in outcome.stderr
        for needle in needles:
            assert needle in lines[-1]
        return
    outcome.one_line_error(code, *needles)


def _processing_spec(tmp_path: Path, script: str, command: list[str]) -> Path:
    return write_processing_spec(
        tmp_path, job_name="failing-processing", script=script, run=PREP_RUN, command=command
    )


def test_a_processing_command_that_fails_shows_its_output_and_exits_1(
    cli_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    script = "\n".join(
        [
            "import sys",
            "print('reading the raw data')",
            "print('bad record at line 7', file=sys.stderr)",
            "sys.exit(3)",
        ]
    )
    spec = _processing_spec(tmp_path, script, ["python3"])
    outcome = cli_process("local", str(spec), "--workdir", str(tmp_path / "w"), "--no-live")
    outcome.one_line_error(1, "processing job", "exited 3")
    assert "reading the raw data" in outcome.stdout and "bad record at line 7" in outcome.stdout
    assert not (tmp_path / "w" / "s3" / "bucket" / "o").exists(), "a failed job uploads nothing"


def test_a_missing_processing_command_is_one_line(
    cli_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    spec = _processing_spec(tmp_path, "print('x')\n", ["no-such-interpreter-dtrain"])
    outcome = cli_process("local", str(spec), "--workdir", str(tmp_path / "w"), "--no-live")
    outcome.one_line_error(1, "cannot start the processing command", "no-such-interpreter-dtrain")
