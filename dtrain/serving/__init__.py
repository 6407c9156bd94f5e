"""Serving a trained model the way SageMaker hosting does: `dtrain serve`, the emulator's endpoints.

- `archive`: a model.tar.gz (local path or s3://) unpacked into a model directory.
- `server`: `start_server(model_dir)`: a PyTorch model under TorchServe, started by SageMaker's
  PyTorch inference toolkit (`torchserve`, `torchserve_entry`); a TensorFlow SavedModel behind
  TF Serving's REST API under gunicorn (`wsgi`, `tf_service`), in the TensorFlow virtualenv.
- `client`: `dtrain predict`'s two ways in, HTTP to a URL or InvokeEndpoint to an endpoint name.

The CLI side (archive, server, client) imports only the standard library and boto3; the
frameworks are imported in the servers' workers only.
"""

from __future__ import annotations

from dtrain.serving.server import ServerHandle, start_server

__all__ = ["ServerHandle", "start_server"]
