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
