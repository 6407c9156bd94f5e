"""The on-disk layout of a local job: one /opt/ml-style tree per simulated host.

<workdir>/jobs/<job>/
    algo-1/ ... algo-N/         what SageMaker mounts at /opt/ml on each instance
        input/config/*.json     hyperparameters, resourceconfig, inputdataconfig, ...
        input/data/<channel>/   the channel's files (links to local data)
        model/  output/  output/data/  output/intermediate/  code/
        checkpoints -> ../checkpoints   (every host sees the job's checkpoint store)
    checkpoints/                survives re-runs of the same job: the spot story, locally
    logs/algo-<i>.log           everything each host printed
    launch/                     per-host environment files, MPI hostfile
    output/model.tar.gz         packed like SageMaker's <output_path>/<job>/output/
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTANCE_GROUP = "homogeneousCluster"


def host_names(count: int) -> list[str]:
    return [f"algo-{i}" for i in range(1, count + 1)]


@dataclass(frozen=True)
class HostTree:
    name: str
    base: Path

    @property
    def config_dir(self) -> Path:
        return self.base / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.base / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def code_dir(self) -> Path:
        return self.base / "code"

    @property
    def checkpoint_dir(self) -> Path:
        return self.base / "checkpoints"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel


@dataclass(frozen=True)
class JobLayout:
    root: Path
    hosts: tuple[HostTree, ...]

    @classmethod
    def for_job(cls, workdir: Path, job_name: str, host_count: int) -> JobLayout:
        root = workdir.resolve() / "jobs" / job_name
        return cls(root=root, hosts=tuple(HostTree(n, root / n) for n in host_names(host_count)))

    @property
    def checkpoint_store(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def launch_dir(self) -> Path:
        return self.root / "launch"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "output"

    @property
    def pid_file(self) -> Path:
        return self.root / "run.pid"

    def log_file(self, host: str) -> Path:
        return self.logs_dir / f"{host}.log"

    def reset(self) -> None:
        """Fresh host trees for a new run; the checkpoint store is kept on purpose."""
        self.root.mkdir(parents=True, exist_ok=True)
        for child in self.root.iterdir():
            if child.name in {"checkpoints", "run.pid"}:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        self.checkpoint_store.mkdir(exist_ok=True)
        for directory in (self.logs_dir, self.launch_dir, self.artifacts_dir):
            directory.mkdir()
        for host in self.hosts:
            for directory in (
                host.config_dir,
                host.data_dir,
                host.model_dir,
                host.output_dir / "data",
                host.output_dir / "intermediate",
                host.code_dir,
            ):
                directory.mkdir(parents=True)
            # An absolute link: in a host's mount namespace this tree is bound at /opt/ml, where a
            # relative ../checkpoints would name /opt/checkpoints (the job dir stays visible there).
            os.symlink(self.checkpoint_store, host.checkpoint_dir)


def write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")
