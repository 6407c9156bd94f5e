"""Our SM_* environment against the SageMaker training toolkit's own, key by key.

The toolkit (`sagemaker-training` as requirements-sdk.txt pins it, in .venv-sdk) runs in a subprocess with
SAGEMAKER_BASE_DIR pointing at one of our simulated host trees, as it would in a container
whose /opt/ml we wrote. It derives SM_NUM_CPUS / SM_NUM_GPUS / SM_NUM_NEURONS and the
smddprun checks from the machine; both sides run on this machine, so those agree too.
Differences we make on purpose are not in SM_*: see dtrain/local/launchers.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.local.config import repo_root
from dtrain.local.container_config import write_container_config
from dtrain.local.environment import MachineFacts, process_environment
from dtrain.local.layout import JobLayout
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request

SDK_PYTHON = repo_root() / ".venv-sdk" / "bin" / "python"
TOOLKIT_PROBE = """
import json, os, sys
from sagemaker_training import environment
env = environment.Environment()
json.dump({"sm": env.to_env_vars(),
           "set": {k: os.environ.get(k) for k in ("CURRENT_HOST", "SAGEMAKER_JOB_NAME", "SAGEMAKER_REGION")}},
          sys.stdout)
"""


def _toolkit_view(base_dir: Path, job_name: str) -> dict[str, Any]:
    # Fail, never skip: without the toolkit there is no parity claim.
    assert SDK_PYTHON.exists(), f"{SDK_PYTHON} missing: make setup builds .venv-sdk (requirements-sdk.txt)"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    environ.update({"SAGEMAKER_BASE_DIR": str(base_dir), "TRAINING_JOB_NAME": job_name})
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", TOOLKIT_PROBE], env=environ, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "host_index", "hosts"),
    [("ddp_torchrun.json", 1, 2), ("horovod_keras.json", 0, 3)],
    ids=["torch_distributed-algo-2-of-2", "mpi-algo-1-of-3"],
)
def test_sm_environment_matches_the_toolkit_key_by_key(
    example: str, host_index: int, hosts: int, tmp_path: Path
) -> None:
    spec = load_spec(repo_root() / "examples" / example)
    request = build_training_job_request(spec, local_platform_settings())
    _assert_matches_toolkit(request, host_index, hosts, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("host_index", [0, 2], ids=["algo-1-in-data", "algo-3-in-gpus"])
def test_instance_group_hosts_match_the_toolkit(host_index: int, tmp_path: Path) -> None:
    """Heterogeneous cluster: each simulated host is in its group (SM_CURRENT_INSTANCE_GROUP*,
    SM_INSTANCE_GROUPS*, resourceconfig.json's instance_groups), the training group mpi's."""
    data = json.loads((repo_root() / "examples" / "horovod_keras.json").read_text())
    estimator = data["estimator"]
    del estimator["instance_type"], estimator["instance_count"]
    estimator["instance_groups"] = [
        {"instance_group_name": "data", "instance_type": "ml.c5.xlarge", "instance_count": 2},
        {"instance_group_name": "gpus", "instance_type": "ml.g5.xlarge", "instance_count": 2},
    ]
    estimator["distribution"]["instance_groups"] = ["gpus"]
    request = build_training_job_request(parse_spec(data), local_platform_settings())
    ours = _assert_matches_toolkit(request, host_index, 4, tmp_path)
    group = "data" if host_index == 0 else "gpus"
    assert ours["SM_CURRENT_INSTANCE_GROUP"] == group
    assert json.loads(ours["SM_INSTANCE_GROUPS"]) == ["data", "gpus"]
    assert json.loads(ours["SM_CURRENT_INSTANCE_GROUP_HOSTS"]) == (
        ["algo-1", "algo-2"] if group == "data" else ["algo-3", "algo-4"]
    )
    training_env = json.loads(ours["SM_TRAINING_ENV"])
    assert training_env["is_hetero"] and training_env["master_hostname"] == "algo-3"


def _assert_matches_toolkit(
    request: dict[str, Any], host_index: int, hosts: int, tmp_path: Path
) -> dict[str, str]:
    layout = JobLayout.for_job(tmp_path, request["TrainingJobName"], hosts)
    layout.reset()
    names = [t.name for t in layout.hosts]
    tree = layout.hosts[host_index]
    write_container_config(request, tree, names)
    resource = request["ResourceConfig"]
    machine = MachineFacts(resource.get("InstanceType") or resource["InstanceGroups"][0]["InstanceType"])
    ours = process_environment(request, tree, names, machine=machine, base_environ={"PATH": "/usr/bin"})

    theirs = _toolkit_view(tree.base, request["TrainingJobName"])

    our_sm = {k: v for k, v in ours.items() if k.startswith("SM_")}
    assert sorted(our_sm) == sorted(theirs["sm"])
    for key, value in theirs["sm"].items():
        if key == "SM_TRAINING_ENV":
            # Compared field by field first, so a difference names the field.
            ours_env, their_env = json.loads(our_sm[key]), json.loads(value)
            assert sorted(ours_env) == sorted(their_env)
            for field, field_value in their_env.items():
                assert ours_env[field] == field_value, f"{key}.{field}"
        assert our_sm[key] == value, key
    for key, value in theirs["set"].items():
        assert ours[key] == value, key
    # The comparison covers the interesting parts, not just empty strings.
    assert json.loads(our_sm["SM_HOSTS"]) == names
    assert our_sm["SM_CURRENT_HOST"] == names[host_index]
    assert json.loads(our_sm["SM_TRAINING_ENV"])["job_name"] == request["TrainingJobName"]
    return our_sm
