"""Local-mode settings: which Python runs which packaged image, where file systems live.

A run on this machine needs a few facts SageMaker gets from the image and the VPC:
- the interpreter of a packaged image (the Horovod image needs TensorFlow + Horovod, which
  live in their own virtualenv, `.venv-hvd`, not in the CLI's);
- which TrainingImage URIs are the packaged images (a deployed platform's ECR URIs name
  them only by asset hash, so the emulator passes the platform's `image_uris`);
- the local directory standing in for the FSx / EFS file system root.

Read from a JSON file (`--config`, or `DTRAIN_LOCAL_CONFIG`):
    {"python": {"horovod": ".venv-hvd/bin/python"},
     "file_systems": {"fsx": "/data/fsx", "efs": "/data/efs"},
     "images": {"123.dkr.ecr.us-east-1.amazonaws.com/x:tag": "ddp"},
     "processes_per_host": 1}
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtrain import package_data
from dtrain.local.errors import LocalModeError

PACKAGED_IMAGES = ("ddp", "horovod")
# The image URIs the local PlatformSettings hands to the request builder.
LOCAL_IMAGE_URIS = {name: f"dtrain-local/{name}:latest" for name in PACKAGED_IMAGES}
CONFIG_ENV = "DTRAIN_LOCAL_CONFIG"
STOP_GRACE_SECONDS = 120.0


def repo_root() -> Path:
    """The checkout dtrain/ sits in: where the set-up builds the extra interpreters (.venv-hvd,
    .venv-toolkit). An installed dtrain has none there and falls back to its own interpreter."""
    return Path(__file__).resolve().parent.parent.parent


def training_code_dir() -> Path:
    """training_code/, as the package carries it (dtrain.package_data)."""
    return package_data.training_code_dir()


def _default_python() -> dict[str, str]:
    pythons = {"ddp": sys.executable}
    hvd = repo_root() / ".venv-hvd" / "bin" / "python"
    # Horovod and TensorFlow are not in the CLI's virtualenv; the set-up builds .venv-hvd.
    pythons["horovod"] = str(hvd) if hvd.exists() else sys.executable
    return pythons


@dataclass(frozen=True)
class LocalConfig:
    python: Mapping[str, str] = field(default_factory=_default_python)
    file_systems: Mapping[str, Path] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    processes_per_host: int | None = None
    # Seconds between SIGTERM and SIGKILL when a job is stopped: SageMaker's ("SageMaker sends the
    # algorithm the SIGTERM signal, which delays job termination for 120 seconds", StopTrainingJob).
    stop_grace_seconds: float = STOP_GRACE_SECONDS

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base: Path | None = None) -> LocalConfig:
        base = base or Path.cwd()
        known = {"python", "file_systems", "images", "processes_per_host", "stop_grace_seconds"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LocalModeError(f"local config: unknown key(s) {unknown}; known: {sorted(known)}")
        python = _default_python()
        for image, exe in dict(data.get("python", {})).items():
            python[str(image)] = str((base / str(exe)) if "/" in str(exe) else exe)
        file_systems = {str(k): base / str(v) for k, v in dict(data.get("file_systems", {})).items()}
        pph = data.get("processes_per_host")
        return cls(
            python=python,
            file_systems=file_systems,
            images={str(k): str(v) for k, v in dict(data.get("images", {})).items()},
            processes_per_host=int(pph) if pph is not None else None,
            stop_grace_seconds=float(data.get("stop_grace_seconds", STOP_GRACE_SECONDS)),
        )

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> LocalConfig:
        environ = os.environ if environ is None else environ
        chosen = path or environ.get(CONFIG_ENV)
        if not chosen:
            return cls()
        file = Path(chosen)
        try:
            data = json.loads(file.read_text())
        except FileNotFoundError:
            raise LocalModeError(f"local config {file} does not exist") from None
        except json.JSONDecodeError as exc:
            raise LocalModeError(f"local config {file} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise LocalModeError(f"local config {file} must hold a JSON object")
        return cls.from_mapping(data, base=file.parent)

    def with_platform_images(self, image_uris: Mapping[str, str]) -> LocalConfig:
        """The same settings, also knowing a deployed platform's packaged image URIs."""
        images = dict(self.images)
        images.update({uri: name for name, uri in image_uris.items()})
        return LocalConfig(
            python=self.python,
            file_systems=self.file_systems,
            images=images,
            processes_per_host=self.processes_per_host,
            stop_grace_seconds=self.stop_grace_seconds,
        )

    def packaged_image(self, training_image: str) -> str | None:
        """`ddp` / `horovod` when the TrainingImage is a packaged image, else None."""
        if training_image in self.images:
            return self.images[training_image]
        if training_image in PACKAGED_IMAGES:
            return training_image
        for name, uri in LOCAL_IMAGE_URIS.items():
            if training_image == uri:
                return name
        return None

    def python_for(self, image: str | None) -> str:
        if image and image in self.python:
            return self.python[image]
        return self.python.get("default", sys.executable)
