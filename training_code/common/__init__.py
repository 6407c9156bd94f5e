"""Helpers shared by the packaged training scripts (copied next to them as the package ``common``).

Modules without a framework import (``sagemaker_env``, ``checkpoints``, ``metrics``, ``failure``,
``stop_signal``, ``launcher_env``, ``cifar_format``) serve the PyTorch and the TensorFlow scripts alike;
the ``torch_*`` and ``cifar_*`` modules import PyTorch and are only used by the PyTorch scripts.
"""
