"""The packaged images against what SageMaker's own machinery does with them (issue 20).

Each test names the finding it pins; the toolkit ones run the real sagemaker-training (4.9.0, in
.venv-sdk) on a scratch tree under SAGEMAKER_BASE_DIR with the image's environment, as the
container would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dtrain.jobspec.distribution import STRATEGIES
from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.jobspec.spec_rules import IMAGE_DISTRIBUTIONS
from dtrain.local.config import repo_root
from dtrain.local.container_config import write_container_config
from dtrain.local.entry_chain import image_toolkit_bin
from dtrain.local.image_facts import read_image_facts
from dtrain.local.layout import JobLayout
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import CODE_DIR_IN_IMAGE, build_training_job_request

IMAGES = ("ddp", "horovod")
SDK_PYTHON = repo_root() / ".venv-sdk" / "bin" / "python"
EXAMPLES = sorted(
    p.name
    for p in (repo_root() / "examples").glob("*.json")
    if json.loads(p.read_text()).get("estimator", {}).get("image_uri") in IMAGES
)


def _run_toolkit(code: str, env: dict[str, str]) -> str:
    assert SDK_PYTHON.exists(), f"{SDK_PYTHON} missing: make setup builds .venv-sdk"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.parametrize("image", IMAGES)
def test_finding1_no_image_sets_sagemaker_program(image: str) -> None:
    # The toolkit's Environment reads SAGEMAKER_PROGRAM first and lets it win over the job's
    # sagemaker_program hyperparameter (sagemaker_training/environment.py, Environment.__init__).
    assert "SAGEMAKER_PROGRAM" not in read_image_facts(image).env


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_finding1_the_toolkit_runs_the_examples_entry_point_in_its_image(
    example: str, tmp_path: Path
) -> None:
    spec = load_spec(repo_root() / "examples" / example)
    request = build_training_job_request(spec, local_platform_settings())
    layout = JobLayout.for_job(tmp_path, request["TrainingJobName"], 1)
    layout.reset()
    write_container_config(request, layout.hosts[0], [layout.hosts[0].name])
    image_env = read_image_facts(str(spec.estimator.image_uri)).env
    probe = (
        "import json; from sagemaker_training import environment as e; env = e.Environment();"
        "print(json.dumps([env.user_entry_point, env.module_dir]))"
    )
    seen = json.loads(_run_toolkit(probe, {**image_env, "SAGEMAKER_BASE_DIR": str(layout.hosts[0].base)}))
    assert seen[0] == spec.estimator.entry_point
    if spec.estimator.source_dir is None:
        assert seen[1] == CODE_DIR_IN_IMAGE


@pytest.mark.parametrize("image", IMAGES)
def test_finding2_opt_ml_code_is_empty_in_the_images(image: str) -> None:
    # The toolkit unpacks sagemaker_submit_directory only into an empty /opt/ml/code
    # (sagemaker_training/files.py, download_and_extract), so baked code there would shadow a
    # spec's source_dir.
    facts = read_image_facts(image)
    for _, destination in facts.copies:
        assert not destination.startswith("/opt/ml/code"), destination
    baked = {destination.rstrip("/") for _, destination in facts.copies}
    assert f"{CODE_DIR_IN_IMAGE}/common" in baked


def test_finding2_the_toolkit_fills_an_empty_code_dir_from_the_users_tarball_or_the_baked_code(
    tmp_path: Path,
) -> None:
    baked = tmp_path / "opt" / "dtrain" / "code"
    shutil.copytree(repo_root() / "training_code" / "common", baked / "common")
    (baked / "train_ddp.py").write_text("baked\n")
    user = tmp_path / "user"
    user.mkdir()
    (user / "train_ddp.py").write_text("mine\n")
    tarball = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(user / "train_ddp.py", arcname="train_ddp.py")
    probe = (
        "import sys; from sagemaker_training import files;"
        "files.download_and_extract(uri=sys.argv[1], path=sys.argv[2])"
    )
    for uri, expected in ((tarball, "mine\n"), (baked, "baked\n")):
        code_dir = tmp_path / f"code-{expected.strip()}"  # /opt/ml/code: empty in the image
        subprocess.run([str(SDK_PYTHON), "-c", probe, str(uri), str(code_dir)], check=True)
        assert (code_dir / "train_ddp.py").read_text() == expected


def test_finding3_the_horovod_image_has_mpi4py_for_the_toolkits_mpi_runner() -> None:
    # MasterRunner._python_command: [python, "-m", "mpi4py"] (sagemaker_training/mpi.py).
    runs = " ".join(read_image_facts("horovod").runs)
    assert re.search(r"pip install[^&]*mpi4py==", runs)


@pytest.mark.parametrize("image", IMAGES)
def test_finding4_no_apt_pin_of_a_package_the_base_holds(image: str) -> None:
    # nvidia/cuda devel images `apt-mark hold` libnccl2 and libnccl-dev; a pinned other version
    # makes apt-get exit 100 unless the same command allows changing held packages.
    for run in read_image_facts(image).runs:
        for command in run.split("&&"):
            if re.search(r"libnccl[\w-]*=", command):
                assert "--allow-change-held-packages" in command, command


@pytest.mark.parametrize("image", IMAGES)
def test_finding5_pid1_is_tini_forwarding_signals_to_the_whole_job(image: str) -> None:
    facts = read_image_facts(image)
    assert facts.entrypoint == ["/usr/bin/tini", "-g", "--", "/opt/dtrain/entrypoint.sh"]
    assert facts.cmd == ["train"]
    assert (["container/entrypoint.sh"], "/opt/dtrain/entrypoint.sh") in facts.copies
    assert any(re.search(r"apt-get install[^&]*\btini\b", run) for run in facts.runs)


SLOW_SAVE = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
def save(signum, frame):
    time.sleep(3)  # a checkpoint that takes a while
    out.write_text("saved")
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("with_image_env", [False, True], ids=["open-mpi-default", "horovod-image-env"])
def test_finding5_mpirun_gives_the_ranks_time_to_checkpoint(with_image_env: bool, tmp_path: Path) -> None:
    """mpirun forwards SIGTERM to the ranks and SIGKILLs them odls_base_sigkill_timeout seconds
    later: with Open MPI's default (1 s) a 3-second save is cut short; the image's value lets it
    finish (SageMaker itself waits 120 s)."""
    timeout = read_image_facts("horovod").env["OMPI_MCA_odls_base_sigkill_timeout"]
    assert 10 <= int(timeout) <= 55  # mpirun exits after ~2x this: inside SageMaker's 120 s
    # The ddp image's chain runs the same: its Dockerfile sets the same variable.
    assert read_image_facts("ddp").env["OMPI_MCA_odls_base_sigkill_timeout"] == timeout
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_MCA_odls")}
    if with_image_env:
        env["OMPI_MCA_odls_base_sigkill_timeout"] = timeout
    script, saved = tmp_path / "rank.py", tmp_path / "saved"
    script.write_text(SLOW_SAVE)
    mpirun = subprocess.Popen(
        [
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            "1",
            sys.executable,
            str(script),
            str(saved),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mpirun.stdout is not None and "ready" in mpirun.stdout.readline()
        mpirun.send_signal(signal.SIGTERM)
        mpirun.wait(timeout=240)
    finally:
        if mpirun.poll() is None:
            mpirun.kill()
    assert saved.exists() == with_image_env


@pytest.mark.parametrize("image", IMAGES)
def test_finding7_the_entry_chain_runs_from_root(image: str) -> None:
    # start_with_right_hostname.sh compiles ./changehostname.c, which the DLC put in /.
    assert read_image_facts(image).workdir == "/"
    script = (repo_root() / "training_code" / "container" / "entrypoint.sh").read_text()
    assert re.search(r"^cd /$", script, re.M)


def _spec(image: str, strategy: str) -> dict[str, object]:
    framework = (
        "tensorflow" if strategy in ("parameter_server", "multi_worker_mirrored_strategy") else "pytorch"
    )
    # A script the packaged image holds: without source_dir, the spec refuses any other.
    horovod_script = "train_tf_keras.py" if framework == "tensorflow" else "train_hvd_torch.py"
    baked = {"ddp": "train_ddp.py", "horovod": horovod_script}
    return {
        "framework": framework,
        "estimator": {
            "entry_point": baked[image],
            "image_uri": image,
            "instance_type": "ml.p4d.24xlarge",
            "instance_count": 2,
            **({"framework_version": "2.12"} if framework == "tensorflow" else {}),
            "distribution": {strategy: {"enabled": True}}
            if strategy != "smdistributed"
            else {"smdistributed": {"dataparallel": {"enabled": True}}},
        },
        "inputs": {"train": "s3://bucket/train"},
    }


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_finding6_a_packaged_image_takes_only_the_distributions_it_launches(
    image: str, strategy: str
) -> None:
    if strategy in IMAGE_DISTRIBUTIONS[image]:
        parse_spec(_spec(image, strategy))
        return
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(image, strategy))
    message = str(caught.value)
    assert message.startswith("estimator.distribution:") and f"the {image} image" in message
    assert "\n" not in message


RUNNER_PROBE = """
import json, sys
from sagemaker_training import entry_point, environment
from sagemaker_pytorch_container import training
seen = {}
entry_point.run = lambda **kwargs: seen.update(runner=kwargs["runner_type"].name)
training._dns_lookup = lambda host: "127.0.0.1"
training.train(environment.Environment())
print(seen["runner"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_finding6_the_ddp_table_is_what_the_pytorch_toolkit_launches(strategy: str, tmp_path: Path) -> None:
    """The real PyTorch toolkit (the DLC's, .venv-toolkit) picks a launcher for exactly the
    strategies the table lets through; for the others it runs the script as a plain process."""
    spec = parse_spec(
        _spec(
            "horovod" if strategy in ("parameter_server", "multi_worker_mirrored_strategy") else "ddp",
            strategy,
        )
    )
    request = build_training_job_request(spec, local_platform_settings())
    layout = JobLayout.for_job(tmp_path, request["TrainingJobName"], 2)
    layout.reset()
    write_container_config(request, layout.hosts[0], [t.name for t in layout.hosts])
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    done = subprocess.run(
        [str(image_toolkit_bin("ddp") / "python"), "-c", RUNNER_PROBE],
        env={**clean, "SAGEMAKER_BASE_DIR": str(layout.hosts[0].base)},
        capture_output=True,
        text=True,
        check=True,
    )
    launched = done.stdout.split()[-1] != "Process"
    assert launched == (strategy in IMAGE_DISTRIBUTIONS["ddp"]), done.stdout
