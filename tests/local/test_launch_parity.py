"""For every example and every host: local mode's launch equals the one SageMaker's toolkits start.

The toolkit side is the real thing (dtrain/local/toolkit_launch.py): sagemaker-training with the
PyTorch toolkit (the ddp image's DLC) or the TensorFlow toolkit (the horovod image's), run on the
host's scratch /opt/ml with the image's environment, asked for the command line its runner would
execute. The local side is local mode's own plan for the same request. Fields are compared one by
one, so a difference names the example, the host and the field; addresses, ports and mpirun's
network options differ on purpose (every simulated host is 127.0.0.1) and are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtrain.jobspec.spec import load_spec
from dtrain.local.config import repo_root
from dtrain.local.environment import MachineFacts, process_environment
from dtrain.local.launchers import LaunchOptions, plan_launch
from dtrain.local.layout import JobLayout
from dtrain.local.platform import local_platform_settings
from dtrain.local.toolkit_launch import TOOLKIT_PYTHON, local_fields, toolkit_fields, toolkit_launches
from dtrain.requests.training_request import build_training_job_request

EXAMPLES = sorted(p.name for p in (repo_root() / "examples").glob("*.json"))
FIELDS = ("launcher", "script", "args", "torchrun", "mpirun", "tf", "ps")


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_local_launch_equals_the_toolkits_field_by_field(example: str, tmp_path: Path) -> None:
    assert TOOLKIT_PYTHON.exists(), "make setup builds .venv-toolkit (requirements-toolkit.txt)"
    spec = load_spec(repo_root() / "examples" / example)
    image = str(spec.estimator.image_uri)
    request = build_training_job_request(spec, local_platform_settings())
    count = int(request["ResourceConfig"]["InstanceCount"])

    theirs_layout = JobLayout.for_job(tmp_path / "toolkit", request["TrainingJobName"], count)
    theirs_layout.reset()
    theirs = toolkit_launches(request, theirs_layout, image)

    layout = JobLayout.for_job(tmp_path / "local", request["TrainingJobName"], count)
    layout.reset()
    names = [t.name for t in layout.hosts]
    machine = MachineFacts(str(request["ResourceConfig"]["InstanceType"]))
    envs = {
        t.name: process_environment(
            request, t, names, machine=machine, base_environ={"PATH": "/usr/bin:/bin"}
        )
        for t in layout.hosts
    }
    python = str(repo_root() / ".venv" / "bin" / "python")
    _, specs = plan_launch(request, layout, envs, LaunchOptions(python=python, search_path="/usr/bin:/bin"))

    for host in names:
        expected, actual = toolkit_fields(theirs[host]), local_fields(specs, host, names)
        for field in FIELDS:
            assert actual.get(field) == expected.get(field), (
                f"{example} {host} {field}: local {json.dumps(actual.get(field))} "
                f"!= toolkit {json.dumps(expected.get(field))}"
            )
