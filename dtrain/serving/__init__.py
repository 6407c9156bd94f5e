"""Serving a trained model the way SageMaker hosting does: `dtrain serve`, the emulator's endpoints.

- `archive`: a model.tar.gz (local path or s3://) unpacked into a model directory.
- `server`: `start_server(model_dir)`: a PyTorch model under TorchServe, started by SageMaker's
  PyTorch inference toolkit (`torchserve`, `torchserve_entry`); a TensorFlow SavedModel as the
  TF Serving image serves it (`tf_serve`): its Python service running the model's handlers
  (`tf_python_service`, in .venv-tfs, the image's Python packages) in front of TF Serving's REST
  API, answered by TensorFlow (`tf_model_server`, in .venv-hvd), for TF Serving's binary is not
  installable here; `tf_models` finds the versioned SavedModels as the image does.
- `client`: `dtrain predict`'s two ways in, HTTP to a URL or InvokeEndpoint to an endpoint name.

The CLI side (archive, server, client) imports only the standard library and boto3; the
frameworks are imported in the servers' workers only.
"""

from __future__ import annotations

from dtrain.serving.server import ServerHandle, start_server

__all__ = ["ServerHandle", "start_server"]
