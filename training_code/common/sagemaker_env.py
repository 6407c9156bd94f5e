"""The SageMaker training-container contract, read in one place.

SageMaker (through its training toolkit) describes a job to the script with SM_* variables and the
files under /opt/ml. The base directory is movable: like the toolkit, ``SAGEMAKER_BASE_DIR`` replaces
/opt/ml, so the same script runs in a container and in dtrain's local mode. When an SM_* variable is
absent the value is read from the files the toolkit itself reads (input/config/*.json), so the
scripts also run when started by a bare launcher (mpirun on a worker host, a test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The only place the default base appears: SageMaker's own, overridden like the toolkit does.
DEFAULT_BASE_DIR = "/opt/ml"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ContractError(ValueError):
    """A SageMaker variable, file or hyperparameter that the script cannot use."""

    def __init__(self, name: str, value: object, rule: str) -> None:
        super().__init__(f"{name}: {value!r}: {rule}")
        self.name = name
        self.value = value
        self.rule = rule


def decode_hyperparameter(raw: object) -> object:
    """SageMaker stores every hyperparameter as a string; the toolkit JSON-decodes those it can."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class Hyperparameters:
    """Typed access to the job's hyperparameters; a bad value names the hyperparameter."""

    values: Mapping[str, object] = field(default_factory=dict)

    def _get(self, name: str) -> object | None:
        return decode_hyperparameter(self.values.get(name))

    def get_str(self, name: str, default: str) -> str:
        value = self._get(name)
        return default if value is None else str(value)

    def get_int(self, name: str, default: int) -> int:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ContractError(f"hyperparameters.{name}", value, "must be an integer")
        return int(value)

    def get_float(self, name: str, default: float) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError(f"hyperparameters.{name}", value, "must be a number")
        return float(value)

    def get_bool(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ContractError(f"hyperparameters.{name}", value, "must be true or false")

    def optional_int(self, name: str) -> int | None:
        return None if self._get(name) is None else self.get_int(name, 0)

    def optional_bool(self, name: str) -> bool | None:
        return None if self._get(name) is None else self.get_bool(name, False)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ContractError(str(path), "<file>", f"is not valid JSON ({exc})") from exc


@dataclass(frozen=True)
class SageMakerEnv:
    """Where a job's inputs, outputs and peers are, as SageMaker tells the container."""

    base_dir: Path
    hosts: tuple[str, ...]
    current_host: str
    num_gpus: int | None  # None: not stated; the script asks the framework
    channels: Mapping[str, Path]
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path
    hyperparameters: Hyperparameters
    master_addr: str | None  # SM_MASTER_ADDR where the launcher sets it

    @property
    def failure_file(self) -> Path:
        # SageMaker reads the job's FailureReason from <base>/output/failure.
        return self.output_dir / "failure"

    @property
    def is_master_host(self) -> bool:
        return not self.hosts or self.current_host == self.hosts[0]

    def channel(self, name: str) -> Path | None:
        return self.channels.get(name)

    def require_channel(self, name: str) -> Path:
        path = self.channels.get(name)
        if path is None:
            known = ", ".join(sorted(self.channels)) or "none"
            raise ContractError(f"channel {name}", None, f"is required (channels given: {known})")
        return path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SageMakerEnv:
        env = os.environ if environ is None else environ
        base = Path(env.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR)
        config_dir = Path(env.get("SM_INPUT_CONFIG_DIR") or base / "input" / "config")

        resource = _read_json(config_dir / "resourceconfig.json") or {}
        hosts = _json_list(env, "SM_HOSTS") or [str(h) for h in resource.get("hosts", [])]
        current_host = env.get("SM_CURRENT_HOST") or str(resource.get("current_host", "algo-1"))

        num_gpus: int | None = None
        if env.get("SM_NUM_GPUS"):
            num_gpus = _env_int(env, "SM_NUM_GPUS")

        hps_raw: Mapping[str, object]
        if env.get("SM_HPS"):
            hps_raw = _json_object(env, "SM_HPS")
        else:
            hps_raw = _read_json(config_dir / "hyperparameters.json") or {}
        hyperparameters = Hyperparameters(dict(hps_raw))

        data_dir = base / "input" / "data"
        channels: dict[str, Path] = {}
        data_config = _read_json(config_dir / "inputdataconfig.json") or {}
        for name in data_config:
            channels[str(name)] = data_dir / str(name)
        for name in _json_list(env, "SM_CHANNELS"):
            channels[name] = data_dir / name
        for key, value in env.items():
            if key.startswith("SM_CHANNEL_") and key != "SM_CHANNELS" and value:
                channels[key[len("SM_CHANNEL_") :].lower()] = Path(value)

        output_dir = Path(env.get("SM_OUTPUT_DIR") or base / "output")
        # SageMaker has no variable for the checkpoint dir: it writes CheckpointConfig (LocalPath,
        # default /opt/ml/checkpoints) to input/config/checkpointconfig.json. A container path
        # under /opt/ml moves with the base dir, like every other path here.
        checkpoint_config = _read_json(config_dir / "checkpointconfig.json") or {}
        checkpoint_dir = Path(
            hyperparameters.get_str("checkpoint_dir", "")
            or env.get("DTRAIN_CHECKPOINT_DIR")
            or _rebase(str(checkpoint_config.get("LocalPath") or ""), base)
            or base / "checkpoints"
        )
        return cls(
            base_dir=base,
            hosts=tuple(hosts),
            current_host=current_host,
            num_gpus=num_gpus,
            channels=channels,
            model_dir=Path(env.get("SM_MODEL_DIR") or base / "model"),
            output_dir=output_dir,
            output_data_dir=Path(env.get("SM_OUTPUT_DATA_DIR") or output_dir / "data"),
            checkpoint_dir=checkpoint_dir,
            hyperparameters=hyperparameters,
            master_addr=env.get("SM_MASTER_ADDR") or None,
        )


def _rebase(container_path: str, base: Path) -> str:
    """A path SageMaker states inside the container (/opt/ml/...), under this process's base."""
    if container_path == DEFAULT_BASE_DIR or container_path.startswith(DEFAULT_BASE_DIR + "/"):
        return str(base / container_path[len(DEFAULT_BASE_DIR) :].lstrip("/"))
    return container_path


def _env_int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError as exc:
        raise ContractError(name, env[name], "must be an integer") from exc


def _json_list(env: Mapping[str, str], name: str) -> list[str]:
    raw = env.get(name)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ContractError(name, raw, "must be a JSON list") from exc
    if not isinstance(value, list):
        raise ContractError(name, raw, "must be a JSON list")
    return [str(v) for v in value]


def _json_object(env: Mapping[str, str], name: str) -> dict[str, object]:
    raw = env[name]
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ContractError(name, raw, "must be a JSON object") from exc
    if not isinstance(value, dict):
        raise ContractError(name, raw, "must be a JSON object")
    return value
