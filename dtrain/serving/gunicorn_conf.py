"""gunicorn's settings for the model server (`--config python:dtrain.serving.gunicorn_conf`).

Naming a config module also keeps gunicorn from reading a gunicorn.conf.py from the working
directory. The per-server values (bind, workers, timeout) come on the command line.
"""

# Sync workers: one request at a time per process, like the model servers' workers; inference
# is CPU-bound, so parallelism comes from the processes.
worker_class = "sync"
# SIGTERM: a worker finishes the request in hand, for at most this long.
graceful_timeout = 10
loglevel = "info"
# gunicorn >= 24 opens a control socket at a fixed path per user: two servers would share it.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Import the framework once in the master, before it forks the workers.

    N workers importing torch at the same time on a few cores cost N times its import; forked
    after it, they share the imported modules (copy-on-write), the way DataLoader workers fork
    from a parent that imported torch. Only the import happens here: no tensor op runs in the
    master, so no intra-op thread pool exists to be forked. Measured (benchmarks/serving.py's cold
    start, 2 workers, 2 busy cores): 11.7 s -> 7.2 s to the first /ping 200. TensorFlow starts
    threads of its own at import: its workers import it themselves.
    """
    import os

    if os.environ.get("DTRAIN_SERVING_FRAMEWORK") == "pytorch":
        import numpy  # noqa: F401
        import torch  # noqa: F401


def when_ready(server: object) -> None:
    """Stop when the process that started the server is gone (killed without stopping it).

    start_server's caller (`dtrain serve`, the emulator) stops the server on every normal exit;
    one killed outright (SIGKILL, OOM) cannot, and its server would keep the port and the
    model's memory. The master is reparented when its parent dies: it then stops itself,
    gracefully. (PR_SET_PDEATHSIG would fire when the *thread* that started it ends, and the
    emulator starts endpoints from threads that end.)
    """
    import os
    import signal
    import threading
    import time

    parent = int(os.environ.get("DTRAIN_SERVING_PARENT_PID") or 0)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
