"""Runs inside a toolkit interpreter (.venv-toolkit): the launch the SageMaker toolkits would start
on this host, without starting it. Prints JSON on stdout.

The framework toolkit named by SAGEMAKER_TRAINING_MODULE (the image's) runs its real `train`
with `entry_point.run` replaced by a recorder; the recorded runner is then built by the generic
toolkit's `runner.get` and asked for its command line (`_create_command`), exactly what
`runner.run` would execute. TensorFlow is never imported for real (the TF toolkit imports it at
module level; only its parameter-server start uses it, which is recorded instead).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from typing import Any


def main() -> None:
    sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))
    from sagemaker_training import entry_point, environment, mapping, runner  # type: ignore[import-not-found]

    calls: list[dict[str, Any]] = []
    entry_point.run = lambda **kwargs: calls.append(kwargs)
    module_name = os.environ["SAGEMAKER_TRAINING_MODULE"].split(":")[0]
    toolkit: Any = importlib.import_module(module_name)
    ps: list[dict[str, Any]] = []
    if hasattr(toolkit, "_dns_lookup"):
        toolkit._dns_lookup = lambda host: host
    if hasattr(toolkit, "_run_ps"):
        toolkit._run_ps = lambda env, cluster: ps.append(cluster)
        toolkit._wait_until_master_is_down = lambda master: None
    env = environment.Environment()
    if module_name.startswith("sagemaker_tensorflow_container"):
        toolkit.train(env, mapping.to_cmd_args(env.hyperparameters))
    else:
        toolkit.train(env)
    (call,) = calls
    runner_type = call.get("runner_type", runner.ProcessRunnerType)
    launch = runner.get(runner_type, call["user_entry_point"], call["args"], call["env_vars"])
    is_worker = type(launch).__name__ == "WorkerRunner"
    command = None if is_worker else launch._create_command()
    if type(launch).__name__ == "SMDataParallelRunner":  # its run() appends the rank command itself
        command += super(type(launch), launch)._create_command()
    json.dump(
        {
            "runner": runner_type.name,
            "class": type(launch).__name__,
            "command": command,
            "tf_config": json.loads(call["env_vars"]["TF_CONFIG"])
            if "TF_CONFIG" in call["env_vars"]
            else None,
            "ps_cluster": ps[0] if ps else None,
            "master_addr": os.environ.get("MASTER_ADDR"),
            "master_port": os.environ.get("MASTER_PORT"),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
