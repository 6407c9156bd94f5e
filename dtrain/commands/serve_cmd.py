"""`dtrain serve MODEL` (a local endpoint) and `dtrain predict TARGET FILE` (calling one).

`serve` unpacks a model.tar.gz (a local path or s3://) and serves it as SageMaker's framework
image would (dtrain/serving/: TorchServe through SageMaker's PyTorch inference toolkit, or TF
Serving's REST API); it runs until Ctrl-C, SIGTERM or SIGHUP, and then stops the whole server
(JVM, workers) and removes its temporary directories. `predict` sends a file
to a URL (`dtrain serve`'s) or to an endpoint name (InvokeEndpoint) and prints the answer.
Exit codes: 0 served / answered, 1 the model answered an error or no such endpoint, 2 usage,
3 the server or AWS cannot be reached or the model did not load.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from dtrain.commands import bounded_int
from dtrain.remote.cli_support import reports_errors

WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
MAX_TIMEOUT_SECONDS = 3600.0  # an hour: past the longest answer any SageMaker inference mode waits
EXIT_CODES_HELP = """exit codes:
  0  served until stopped (serve) / the model answered (predict)
  1  the model answered an error status (ModelError), or no such endpoint (predict)
  2  usage error: bad argument, missing or unreadable model archive or input file
  3  the model did not load (serve), the server or AWS cannot be reached"""


_positive_int = bounded_int(1)
_port = bounded_int(0, 65535, noun="a port number", rule="must be 0..65535 (0: any free port)")


def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g}")
    return value


def _host(text: str) -> str:
    """An address to listen on: an IP address or a host name (letters, digits, '-', '.')."""
    import ipaddress
    import re

    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if len(text) <= 253 and re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: not an IP address or host name")


def default_workers() -> int:
    """SAGEMAKER_MODEL_SERVER_WORKERS, else one per CPU (the inference toolkits' default).

    An invalid value is a usage error, as the same value given with --env is (it fell back to the
    CPU count silently). start_server's own default (2, for library callers and tests) differs
    on purpose: `dtrain serve` serves as a SageMaker container would, one worker per CPU.
    """
    from dtrain.serving.server import model_server_workers

    if os.environ.get(WORKERS_ENV):
        return model_server_workers(dict(os.environ))
    return os.cpu_count() or 1


def register(subparsers: Any) -> None:
    _register_serve(subparsers)
    _register_predict(subparsers)


def _register_serve(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a model.tar.gz locally with SageMaker's hosting contract (/ping, /invocations)",
        description=(
            "Serve MODEL (a model.tar.gz, its unpacked directory, or s3://BUCKET/KEY) on this "
            "machine as a SageMaker endpoint container would: GET /ping, POST /invocations. A "
            "PyTorch model runs under TorchServe, started by SageMaker's PyTorch inference toolkit "
            "with the model's code/inference.py (and code/requirements.txt, pip-installed as the "
            "toolkit does), N worker processes each with the model loaded; a SavedModel gets "
            "TensorFlow Serving's REST format. Stops on Ctrl-C, SIGTERM or SIGHUP."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("model", metavar="MODEL", help="model.tar.gz, a model directory, or s3://...")
    serve.add_argument("--port", type=_port, default=8080, help="default: 8080 (SageMaker's); 0: a free port")
    serve.add_argument(
        "--host", type=_host, default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help=f"worker processes (default: ${WORKERS_ENV} or the CPU count; a SavedModel: "
        "$SAGEMAKER_GUNICORN_WORKERS or 1, as the TF Serving image)",
    )
    serve.add_argument(
        "--framework",
        choices=("pytorch", "tensorflow"),
        default=None,
        help="default: a SavedModel is tensorflow",
    )
    serve.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model environment, e.g. SAGEMAKER_PROGRAM",
    )
    serve.add_argument("--region", default=None, help="AWS region for an s3:// model")
    serve.set_defaults(func=handle_serve)


def _register_predict(subparsers: Any) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="send a file to a local server (URL) or an endpoint (name) and print the answer",
        description=(
            "POST FILE to TARGET: a URL (http://127.0.0.1:8080, as dtrain serve prints it; "
            "/invocations is added) or a SageMaker endpoint name (InvokeEndpoint with the usual AWS "
            "settings; AWS_ENDPOINT_URL for the emulator). The Content-Type comes from FILE's name "
            "(.json, .npy, .csv, .jsonl) unless given. FILE '-' reads stdin."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("target", metavar="ENDPOINT_OR_URL")
    predict.add_argument("file", metavar="FILE")
    predict.add_argument("--content-type", default=None, help="default: from FILE's name")
    predict.add_argument("--accept", default=None, help="the answer's type (default: the model's, JSON)")
    predict.add_argument(
        "-o", "--output", default=None, help="write the answer to this file instead of stdout"
    )
    predict.add_argument("--region", default=None, help="AWS region of the endpoint")
    predict.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="deadline for the whole answer (default: 70, InvokeEndpoint's 60 s and a margin)",
    )
    predict.set_defaults(func=handle_predict)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    import re

    from dtrain.remote.errors import UsageError

    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env: {pair!r}: must be KEY=VALUE")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or "\0" in value:
            raise UsageError(f"--env: {pair!r}: KEY must be letters, digits and _ (not first a digit)")
        env[key] = value
    return env


@reports_errors
def handle_serve(args: argparse.Namespace) -> int:
    import signal
    import sys
    import tempfile
    from pathlib import Path

    from dtrain.remote.errors import EXIT_OK
    from dtrain.serving.archive import unpack_model
    from dtrain.serving.server import detect_framework, start_server

    env = _parse_env(args.env)

    def stop_on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGHUP (the terminal closed) stops as SIGTERM does: the server and its scratch go with it.
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    previous_hup = signal.signal(signal.SIGHUP, stop_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="dtrain-serve-") as scratch:
            session = None
            if args.model.startswith("s3://"):
                from dtrain.remote.aws import AwsSession

                session = AwsSession(args.region)
            model_dir = unpack_model(args.model, Path(scratch), session=session)
            print(f"dtrain serve: loading {args.model}...", file=sys.stderr, flush=True)
            # --workers, else the model's SAGEMAKER_MODEL_SERVER_WORKERS (--env), else this shell's /
            # the CPUs. The TF Serving image reads neither: its own SAGEMAKER_GUNICORN_WORKERS, or 1.
            tensorflow = (args.framework or detect_framework(model_dir)) == "tensorflow"
            workers = args.workers or (None if WORKERS_ENV in env or tensorflow else default_workers())
            handle = start_server(
                model_dir, host=args.host, port=args.port, workers=workers, framework=args.framework, env=env
            )
            try:
                print(
                    f"dtrain serve: {handle.framework} model ready at {handle.url}, {handle.workers} workers "
                    f"(POST {handle.url}/invocations; Ctrl-C stops)",
                    file=sys.stderr,
                    flush=True,
                )
                print(handle.url, flush=True)
                code = handle.process.wait()
                if code != 0:
                    from dtrain.serving.server import ServerStartError

                    raise ServerStartError(f"the model server exited with code {code}")
            except KeyboardInterrupt:
                pass
            finally:
                handle.stop()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
    return EXIT_OK


def _output_path(text: str | None) -> Any:
    """--output as a Path, refused now if it cannot be written (after the call it is too late)."""
    from pathlib import Path

    from dtrain.remote.errors import UsageError

    if text is None:
        return None
    path = Path(text)
    parent = path.parent if str(path.parent) else Path(".")
    if not text or text.endswith("/") or path.is_dir():
        problem = "is a directory; name a file"
    elif not parent.is_dir():
        problem = f"no such directory: {parent}"
    elif not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem = "not writable"
    else:
        return path
    raise UsageError(f"--output: {text!r}: {problem}")


@reports_errors
def handle_predict(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from dtrain.remote.errors import EXIT_OK, UsageError
    from dtrain.serving.client import (
        INVOKE_TIMEOUT_SECONDS,
        check_url,
        content_type_for,
        invoke_endpoint,
        invoke_url,
        is_url,
    )

    content_type = content_type_for(args.file, args.content_type)
    timeout = args.timeout or INVOKE_TIMEOUT_SECONDS
    if is_url(args.target):
        check_url(args.target)
    output = _output_path(args.output)  # checked before anything is sent
    if args.file == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            body = Path(args.file).read_bytes()
        except OSError as exc:
            raise UsageError(f"FILE: {args.file!r}: {exc.strerror or exc}") from None
    if is_url(args.target):
        prediction = invoke_url(args.target, body, content_type, args.accept, timeout=timeout)
    else:
        prediction = invoke_endpoint(
            args.target, body, content_type, args.accept, region=args.region, timeout=timeout
        )
    if output is not None:
        try:
            output.write_bytes(prediction.body)
        except OSError as exc:
            raise UsageError(f"--output: {str(output)!r}: {exc.strerror or exc}") from None
    elif prediction.content_type.startswith(("application/json", "text/", "application/jsonlines")):
        text = prediction.body.decode("utf-8", "replace")
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        sys.stdout.buffer.write(prediction.body)
        sys.stdout.buffer.flush()
    return EXIT_OK
