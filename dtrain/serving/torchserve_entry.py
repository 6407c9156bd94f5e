"""`python -m dtrain.serving.torchserve_entry`: the PyTorch inference image's `serve`, one of many.

The SageMaker PyTorch inference image starts `serve` (sagemaker-pytorch-inference's
`sagemaker_pytorch_serving_container.serving:main`): it installs `code/requirements.txt`, writes
TorchServe's config from the SAGEMAKER_* environment, runs `torchserve --start` with
sagemaker-inference's handler service, and waits on the TorchServe process. That is what runs
here, unchanged, with four settings of a machine that runs many servers, where the image runs one:

- the config file goes to DTRAIN_TS_CONFIG_FILE, not /etc/sagemaker-ts.properties (the module
  constant TS_CONFIG_FILE, shared by every server on a machine);
- after the toolkit's properties come this server's addresses (loopback, free ports: inference
  and management as the toolkit pairs them, metrics, gRPC; TorchServe's defaults are fixed
  ports) and java.io.tmpdir (the workers' Unix sockets are `<tmpdir>/.ts.sock.<port>`). A later
  key wins in both readers of the file (Python's dict in ts.model_server, java.util.Properties);
- the TorchServe process waited on is the one started with this config file (the toolkit takes
  the only one on the machine and refuses to start beside another);
- when the process that started this one is gone, this one stops (SIGTERM, which the toolkit
  passes to TorchServe) and removes its scratch directory, which its starter would have removed;
- this process is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER, Linux 3.4+): a process the
  model's code detaches (setsid, a double fork) is re-parented to it, not to init, when its own
  parent (a TorchServe worker) ends, so it stays a descendant. When TorchServe has stopped, every
  descendant left is stopped (SIGTERM, then SIGKILL): nothing the model started outlives the
  server. The image needs none of this: its container's end kills every process in it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

CONFIG_FILE_ENV = "DTRAIN_TS_CONFIG_FILE"
OVERRIDES_ENV = "DTRAIN_TS_PROPERTIES"  # key=value lines appended to the toolkit's properties
PARENT_PID_ENV = "DTRAIN_SERVING_PARENT_PID"
# The model environment's own PYTHONPATH: this module came from the checkout's root, which the
# toolkit would otherwise hand on to TorchServe's workers beside code/.
MODEL_PYTHONPATH_ENV = "DTRAIN_MODEL_PYTHONPATH"
TS_NAMESPACE = "org.pytorch.serve.ModelServer"
HANDLER_SERVICE_MODULE = "sagemaker_pytorch_serving_container.handler_service"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
DESCENDANT_GRACE_SECONDS = 3.0


def _our_torchserve(config_file: str) -> Any:
    """The TorchServe JVM started with `-f config_file` (retried by the toolkit's own decorator)."""
    import psutil

    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = process.cmdline()
        except psutil.Error:
            continue
        if TS_NAMESPACE in cmdline and config_file in cmdline:
            return process
    raise RuntimeError(f"TorchServe with config {config_file} did not start")


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _become_subreaper() -> None:
    """Orphans among our descendants come to us, not to init (prctl(2), PR_SET_CHILD_SUBREAPER)."""
    import ctypes  # lazy: only the server's own process calls prctl

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_adopted(server_pid: int) -> None:
    """A subreaper waits for the orphans it adopts, or each one that exits stays a zombie until
    the server stops: every second, zombie children other than the JVM (the toolkit waits on it)
    are reaped. Started once the JVM is found: the toolkit's own waited-for children (pip) are done."""
    import psutil

    def reap() -> None:
        while True:
            time.sleep(1.0)
            for child in psutil.Process().children():
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    if child.pid != server_pid and child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)

    threading.Thread(target=reap, name="orphan-reaper", daemon=True).start()


def stop_descendants(grace: float = DESCENDANT_GRACE_SECONDS) -> None:
    """SIGTERM to every process below this one (the model's detached children included: they
    were re-parented here), SIGKILL to those still running after `grace` seconds; all reaped."""
    import psutil

    left = psutil.Process().children(recursive=True)
    for child in left:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(left, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=grace)


def start_as_serving_main(start_torchserve: Any, retry: Any) -> None:
    """What the toolkit's `serving.main()` does, without importing torch into this process.

    serving.py imports its handler_service module only to pass that file's path to
    start_torchserve, and that module imports torch (default_pytorch_inference_handler): 4-8 s of
    a start on 2 cores, and ~185 MB held by a process that only waits on the JVM. The path is
    found here without running the module; the call and its retry (a CalledProcessError retried
    for 30 s: serving._start_torchserve) are serving.py's. Only the TorchServe workers load torch.
    """
    spec = importlib.util.find_spec(HANDLER_SERVICE_MODULE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{HANDLER_SERVICE_MODULE} is not installed")
    origin = spec.origin

    def failed_to_start(exc: BaseException) -> bool:
        return isinstance(exc, subprocess.CalledProcessError)

    retry(stop_max_delay=1000 * 30, retry_on_exception=failed_to_start)(start_torchserve)(
        handler_service=origin
    )


def main() -> None:
    from retrying import retry
    from sagemaker_pytorch_serving_container import torchserve

    config_file = os.environ[CONFIG_FILE_ENV]
    overrides = os.environ.get(OVERRIDES_ENV, "")
    generate = torchserve._generate_ts_config_properties

    def properties(handler_service: str) -> str:
        return str(generate(handler_service)) + overrides

    torchserve.TS_CONFIG_FILE = config_file
    torchserve._generate_ts_config_properties = properties

    # The toolkit's retry: 10 s for the JVM to appear.
    def retrieve() -> Any:
        server = _our_torchserve(config_file)
        _reap_adopted(server.pid)
        return server

    torchserve._retrieve_ts_server_process = retry(stop_max_delay=10 * 1000)(retrieve)
    os.environ["PYTHONPATH"] = os.environ.pop(MODEL_PYTHONPATH_ENV, "")
    if not os.environ["PYTHONPATH"]:
        del os.environ["PYTHONPATH"]
    parent = int(os.environ.get(PARENT_PID_ENV) or 0)
    if parent:
        _watch_parent(parent)
    _become_subreaper()
    try:
        start_as_serving_main(torchserve.start_torchserve, retry)
    finally:
        stop_descendants()
    if parent and os.getppid() != parent:
        # Orphaned: the starter cannot remove this server's scratch (the working directory).
        shutil.rmtree(os.getcwd(), ignore_errors=True)


if __name__ == "__main__":
    main()
