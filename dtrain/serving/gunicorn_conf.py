"""gunicorn's settings for the model server (`--config python:dtrain.serving.gunicorn_conf`).

Naming a config module also keeps gunicorn from reading a gunicorn.conf.py from the working
directory. The per-server values (bind, workers, timeout) come on the command line.
"""

import os
import signal
import threading
import time

# Sync workers: one request at a time per process, like the model servers' workers; inference
# is CPU-bound, so parallelism comes from the processes.
worker_class = "sync"
# SIGTERM: a worker finishes the request in hand, for at most this long.
graceful_timeout = 10
loglevel = "info"
# gunicorn >= 24 opens a control socket at a fixed path per user: two servers would share it.
control_socket_disable = True


def when_ready(server: object) -> None:
    """Stop when the process that started the server is gone (killed without stopping it).

    start_server's caller (`dtrain serve`, the emulator) stops the server on every normal exit;
    one killed outright (SIGKILL, OOM) cannot, and its server would keep the port and the
    model's memory. The master is reparented when its parent dies: it then stops itself,
    gracefully. (PR_SET_PDEATHSIG would fire when the *thread* that started it ends, and the
    emulator starts endpoints from threads that end.)
    """

    parent = int(os.environ.get("DTRAIN_SERVING_PARENT_PID") or 0)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
