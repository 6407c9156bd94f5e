"""The launch SageMaker's own toolkits would start on each host of a job, and local mode's, side by
side as comparable fields.

`toolkit_launches` writes each host's /opt/ml/input/config as SageMaker would, then runs
dtrain/local/toolkit_probe.py in the toolkit interpreter (.venv-toolkit: sagemaker-training with
the PyTorch and TensorFlow toolkits) with the image's environment: the framework toolkit named by
SAGEMAKER_TRAINING_MODULE picks the runner and the generic toolkit builds its command line.
`local_launches` summarises local mode's plan (dtrain/local/launchers.py) the same way.

Fields compared (`launch_fields`): the launcher and on which host it runs, the script and its
arguments, torchrun's --nnodes/--nproc_per_node/--node_rank, mpirun's -np and ranks per host and
the interpreter flags of each rank (`-m mpi4py`), TF_CONFIG's cluster shape and task, and whether
a parameter server runs. Not compared, on purpose (every simulated host is 127.0.0.1): host names
and addresses, ports, and mpirun's network options.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dtrain.local.config import repo_root
from dtrain.local.container_config import write_container_config
from dtrain.local.image_facts import read_image_facts
from dtrain.local.layout import JobLayout
from dtrain.local.processes import ProcessSpec


def toolkit_venv() -> Path:
    """.venv-toolkit (Makefile), beside the main .venv: in a clone that is the clone itself; a git
    worktree whose .venv links to another checkout's shares that checkout's virtualenvs."""
    own = repo_root() / ".venv-toolkit"
    return own if own.exists() else (repo_root() / ".venv").resolve().parent / ".venv-toolkit"


TOOLKIT_PYTHON = toolkit_venv() / "bin" / "python"
PROBE = Path(__file__).with_name("toolkit_probe.py")
# What each packaged image's `train` hands over to: the PyTorch DLC's ENV (the ddp image's base)
# and our horovod Dockerfile's.
TRAINING_MODULES = {
    "ddp": "sagemaker_pytorch_container.training:main",
    "horovod": read_image_facts("horovod").env.get("SAGEMAKER_TRAINING_MODULE", ""),
}


def toolkit_launches(request: Mapping[str, Any], layout: JobLayout, image: str) -> dict[str, dict[str, Any]]:
    names = [t.name for t in layout.hosts]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_", "PYTHON"))}
    seen: dict[str, dict[str, Any]] = {}
    for tree in layout.hosts:
        write_container_config(request, tree, names)
        env = {
            **inherited,
            **read_image_facts(image).env,
            "SAGEMAKER_TRAINING_MODULE": TRAINING_MODULES[image],
            "SAGEMAKER_BASE_DIR": str(tree.base),
        }
        # -c, not the file: a script's own folder (dtrain/local) would shadow the stdlib `platform`.
        done = subprocess.run(
            [str(TOOLKIT_PYTHON), "-c", PROBE.read_text()],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seen[tree.name] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def _after(argv: Sequence[str], flag: str) -> str:
    return str(argv[argv.index(flag) + 1])


def _script_and_args(argv: Sequence[str]) -> dict[str, Any]:
    index = next(i for i, word in enumerate(argv) if word.endswith((".py", ".sh")))
    return {"script": argv[index], "args": list(argv[index + 1 :])}


def _rank_flags(argv: Sequence[str]) -> list[str]:
    """The interpreter's flags before the script, in the rank command at the end of mpirun's."""
    script = next(i for i, word in enumerate(argv) if word.endswith(".py"))
    python = max(i for i in range(script) if Path(argv[i]).name.startswith("python"))
    return list(argv[python + 1 : script])


def _tf_shape(tf_config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if tf_config is None:
        return None
    return {
        "cluster": {role: len(addresses) for role, addresses in tf_config["cluster"].items()},
        "task": dict(tf_config["task"]),
    }


def toolkit_fields(seen: Mapping[str, Any]) -> dict[str, Any]:
    command = seen["command"]
    fields: dict[str, Any] = {"ps": seen["ps_cluster"] is not None, "tf": _tf_shape(seen["tf_config"])}
    if command is None:  # an MPI worker host: it waits for the master's mpirun
        return {**fields, "launcher": None}
    if Path(command[0]).name == "torchrun":
        return {
            **fields,
            "launcher": "torchrun",
            **_script_and_args(command),
            "torchrun": [_after(command, f) for f in ("--nnodes", "--nproc_per_node", "--node_rank")],
        }
    if command[0] == "mpirun":
        hosts = _after(command, "--host").split(",")
        slots = [int(h.split(":")[1]) if ":" in h else 1 for h in hosts]
        return {
            **fields,
            "launcher": "mpirun",
            **_script_and_args(command),
            "mpirun": {"np": int(_after(command, "-np")), "slots": slots, "rank_flags": _rank_flags(command)},
        }
    return {**fields, "launcher": "script", **_script_and_args(command)}


def local_fields(specs: Sequence[ProcessSpec], host: str, hosts: Sequence[str]) -> dict[str, Any]:
    mine = [s for s in specs if s.host == host]
    workers = [s for s in mine if not s.daemon]
    ps = any(s.name == "ps" for s in mine)
    if not workers:
        return {"ps": ps, "tf": None, "launcher": None}
    (spec,) = workers
    tf = _tf_shape(json.loads(spec.env["TF_CONFIG"])) if "TF_CONFIG" in spec.env else None
    fields: dict[str, Any] = {"ps": ps, "tf": tf}
    argv = spec.argv
    if spec.name == "torchrun":
        return {
            **fields,
            "launcher": "torchrun",
            **_script_and_args(argv),
            "torchrun": [_after(argv, f) for f in ("--nnodes", "--nproc_per_node", "--node_rank")],
        }
    if spec.name == "mpirun":
        ranks = list(spec.rank_hosts or [])
        rank_command = argv[argv.index("--") + 1 :]
        return {
            **fields,
            "launcher": "mpirun",
            **_script_and_args(rank_command),
            "mpirun": {
                "np": int(_after(argv, "-np")),
                "slots": [ranks.count(h) for h in hosts],
                "rank_flags": _rank_flags(rank_command),
            },
        }
    return {**fields, "launcher": "script", **_script_and_args(argv)}
