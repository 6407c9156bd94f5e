"""Serving a trained model the way SageMaker hosting does: `dtrain serve`, the emulator's endpoints.

- `archive`: a model.tar.gz (local path or s3://) unpacked into a model directory.
- `server`: `start_server(model_dir)` runs gunicorn with pre-forked workers over the WSGI app,
  under the interpreter that has the model's framework (torch here, TensorFlow in .venv-hvd).
- `wsgi`: the hosting contract (`GET /ping`, `POST /invocations`) over one inference service:
  `torch_service` (the SageMaker PyTorch inference toolkit's handler chain) or `tf_service`
  (TensorFlow Serving's REST predict format).
- `client`: `dtrain predict`'s two ways in, HTTP to a URL or InvokeEndpoint to an endpoint name.

The CLI side (archive, server, client) imports only the standard library and boto3; numpy and
the frameworks are imported in the server's workers only.
"""

from __future__ import annotations

from dtrain.serving.server import ServerHandle, start_server

__all__ = ["ServerHandle", "start_server"]
