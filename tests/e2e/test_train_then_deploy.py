"""After training, through the real state machine, Lambdas, event rules and IAM (enforced):
deploy to an endpoint (create, then update with no downtime) or run a transform job.

Training is played (EventPlaybackBackend); the model archive the played job "produced" is put
where SageMaker would (<output>/<job>/output/model.tar.gz). Serving and transform are the
emulator's real ones (dtrain.emulator.hosting on dtrain.serving).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.apps import STANDIN_DATA_BUCKET
from tests.emulator.hosting_models import model_archive

# The PyTorch inference Deep Learning Container (the emulator serves with dtrain.serving instead).
INFERENCE_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311-ubuntu20.04-sagemaker"
)


def _put_model(emu: Emulator, job: str, scale: float, delay: float = 0.0) -> None:
    desc = emu.client("sagemaker").describe_training_job(TrainingJobName=job)
    output = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    emu.client("s3").put_object(
        Bucket=bucket, Key=f"{prefix}/{job}/output/model.tar.gz", Body=model_archive(scale, delay)
    )


def _train(emu: Emulator, spec: dict[str, Any], scale: float, delay: float = 0.0) -> tuple[str, str]:
    arn = emu.start_execution(spec)
    (job,) = emu.jobs_of(arn)
    _put_model(emu, job, scale, delay)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    return arn, job


def _invoke(emu: Emulator, endpoint: str, xs: list[int]) -> list[Any]:
    runtime = emu.client("sagemaker-runtime")
    body = "\n".join(json.dumps({"x": x}) for x in xs)
    reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="application/json")
    return [json.loads(line)["y"] for line in reply["Body"].read().decode().splitlines()]


def _deploy_spec(make_spec: Any, endpoint: str) -> dict[str, Any]:
    spec: dict[str, Any] = make_spec()
    spec["deploy"] = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "endpoint_name": endpoint,
        "image_uri": INFERENCE_IMAGE,
    }
    return spec


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from dtrain.cli import main

    capsys.readouterr()
    assert main([*argv, "--stack", emulator_stack()]) == 0
    return capsys.readouterr().out


def emulator_stack() -> str:
    from dtrain.emulator.core import ORCHESTRATION_STACK

    return ORCHESTRATION_STACK


def test_an_execution_trains_deploys_and_the_endpoint_answers_then_a_second_one_updates_it(
    emulator: Emulator,
    make_spec: Any,
    read_notifications: Any,
    count_transitions: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert emulator.enforce  # the platform's own IAM decides every call below
    read_notifications(emulator)
    arn, job = _train(emulator, _deploy_spec(make_spec, "dtrain-e2e-ep"), scale=2)
    desc = emulator.wait_execution(arn, timeout=180)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert out["job_name"] == job
    assert out["model"]["model_name"] == job and out["model"]["endpoint_name"] == "dtrain-e2e-ep"
    assert out["endpoint"]["status"] == "InService"
    first_config = out["endpoint"]["endpoint_config_name"]
    assert _invoke(emulator, "dtrain-e2e-ep", [1, 2]) == [2, 4]
    (note,) = read_notifications(emulator)
    assert "dtrain-e2e-ep" in note["Subject"] and "Endpoint dtrain-e2e-ep InService" in note["Message"]
    row = emulator.ledger().get(first_config)
    assert row is not None and row.kind == "endpoint" and row.status == "Completed" and not row.is_open
    # Callback, not polling: training + model + endpoint cost a fixed number of transitions.
    assert count_transitions(emulator.history(arn)) <= 11
    # dtrain status shows the endpoint; dtrain list has the deployment's row.
    execution = arn.rsplit(":", 1)[-1]
    status = json.loads(_cli(capsys, "status", execution, "--json"))
    (hosted,) = status["hosting"]
    assert (hosted["kind"], hosted["name"], hosted["status"]) == ("endpoint", "dtrain-e2e-ep", "InService")
    assert hosted["serving_config"] == hosted["endpoint_config"] == first_config
    assert [j["name"] for j in status["jobs"]] == [job]
    assert "Endpoint dtrain-e2e-ep: InService" in _cli(capsys, "status", execution)
    # The endpoint's own name finds the execution that deployed it.
    by_endpoint = json.loads(_cli(capsys, "status", "dtrain-e2e-ep", "--json"))
    assert by_endpoint["execution"]["arn"] == arn and [j["name"] for j in by_endpoint["jobs"]] == [job]
    listed = json.loads(_cli(capsys, "list", "--json"))
    assert {"job_name": first_config, "kind": "endpoint", "resource_name": "dtrain-e2e-ep"}.items() <= next(
        r for r in listed if r["job_name"] == first_config
    ).items()

    arn2, _ = _train(emulator, _deploy_spec(make_spec, "dtrain-e2e-ep"), scale=10)
    # While the second execution deploys, the endpoint keeps answering (old model, then new).
    answers: set[int] = set()
    while emulator.describe_execution(arn2)["status"] == "RUNNING":
        answers.add(_invoke(emulator, "dtrain-e2e-ep", [1])[0])
        time.sleep(0.05)
    desc2 = emulator.wait_execution(arn2, timeout=180)
    assert desc2["status"] == "SUCCEEDED", desc2.get("cause")
    out2 = json.loads(desc2["output"])
    assert out2["endpoint"]["endpoint_config_name"] != first_config
    assert answers <= {2, 10} and _invoke(emulator, "dtrain-e2e-ep", [1]) == [10]


# A block's own inference code (SDK v2: Model(entry_point=..., source_dir=...)): labels instead
# of the trained code's numbers, and a helper module from source_dir beside it.
LABELS = """
import json, os
from labels import label

def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as f:
        return json.load(f)

def input_fn(body, content_type):
    return [json.loads(line) for line in body.splitlines() if line.strip()]

def predict_fn(records, model):
    return [label(r["x"] * model["scale"]) for r in records]

def output_fn(predictions, accept):
    return json.dumps({"labels": predictions}), "application/json"
"""


def test_a_deploy_block_with_its_own_inference_code_is_repacked_and_served_with_it(
    emulator: Emulator, make_spec: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert emulator.enforce  # the Submit Lambda's repack reads and writes S3 under its own role
    code = tmp_path / "serve_code"
    code.mkdir()
    (code / "serve.py").write_text(LABELS)
    (code / "labels.py").write_text("def label(y):\n    return 'big' if y > 5 else 'small'\n")
    spec = _deploy_spec(make_spec, "dtrain-e2e-own-code")
    spec["deploy"].update(entry_point="serve.py", source_dir="serve_code")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    # dtrain submit uploads the code under the execution's prefix and names it as source_dir.
    submitted = json.loads(_cli(capsys, "submit", str(path), "--json"))
    arn, name = submitted["execution_arn"], submitted["execution_name"]
    code_uri = submitted["inference_code"]
    assert code_uri.endswith(f"/{name}/source/inference/sourcedir.tar.gz")
    (job,) = emulator.jobs_of(arn)
    _put_model(emulator, job, scale=3)
    emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    desc = emulator.wait_execution(arn, timeout=180)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    # The block's code answers, not the trained archive's code/inference.py ({"y": ...} lines).
    reply = emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="dtrain-e2e-own-code", Body=b'{"x": 1}\n{"x": 2}', ContentType="application/json"
    )
    assert json.loads(reply["Body"].read()) == {"labels": ["small", "big"]}
    # The model serves the repacked archive, with the SDK's environment for it.
    sm = emulator.client("sagemaker")
    container = sm.describe_model(ModelName=job)["PrimaryContainer"]
    output = sm.describe_training_job(TrainingJobName=job)["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    assert container["ModelDataUrl"] == f"{output}/{job}/model.tar.gz"
    env = container["Environment"]
    assert (env["SAGEMAKER_PROGRAM"], env["SAGEMAKER_SUBMIT_DIRECTORY"]) == ("serve.py", "/opt/ml/model/code")
    bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
    archive = emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = sorted(m.name for m in tar if m.isfile())
    assert names == ["code/labels.py", "code/serve.py", "weights.json"]


def _transform_spec(make_spec: Any, data: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = make_spec()
    spec["transform"] = {
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "image_uri": INFERENCE_IMAGE,
        "data": data,
        "content_type": "application/json",
        "split_type": "Line",
        "strategy": "MultiRecord",
        "assemble_with": "Line",
        **extra,
    }
    return spec


def _put_inputs(emu: Emulator, prefix: str, count: int) -> None:
    s3 = emu.client("s3")
    body = "".join(json.dumps({"x": i}) + "\n" for i in range(count))
    s3.put_object(Bucket=STANDIN_DATA_BUCKET, Key=f"{prefix}/part-0.jsonl", Body=body.encode())


def test_an_execution_trains_then_transforms_and_the_out_files_land_in_s3(
    emulator: Emulator, make_spec: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _put_inputs(emulator, "transform-in", 5)
    arn, _ = _train(
        emulator,
        _transform_spec(
            make_spec,
            f"s3://{STANDIN_DATA_BUCKET}/transform-in/",
            # An experiment nothing created: Submit creates it before CreateTransformJob.
            experiment_config={"ExperimentName": "transform-experiment"},
        ),
        scale=3,
    )
    desc = emulator.wait_execution(arn, timeout=180)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert emulator.client("sagemaker").describe_experiment(ExperimentName="transform-experiment")
    transform = json.loads(desc["output"])["transform"]
    status = json.loads(_cli(capsys, "status", arn, "--json"))
    assert [(h["kind"], h["status"]) for h in status["hosting"]] == [("transform", "Completed")]
    assert transform["status"] == "Completed"
    output = transform["output_path"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    assert prefix.startswith("jobs/")  # under the prefix the execution role may write
    body = emulator.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/part-0.jsonl.out")["Body"].read()
    assert [json.loads(line)["y"] for line in body.decode().splitlines()] == [0, 3, 6, 9, 12]


def test_abort_stops_the_running_transform_job(emulator: Emulator, make_spec: Any) -> None:
    _put_inputs(emulator, "transform-slow", 400)
    spec = _transform_spec(make_spec, f"s3://{STANDIN_DATA_BUCKET}/transform-slow/", strategy="SingleRecord")
    arn, _ = _train(emulator, spec, scale=1, delay=0.2)
    sm = emulator.client("sagemaker")
    deadline = time.monotonic() + 120
    running: list[str] = []
    while not running and time.monotonic() < deadline:
        running = [r.job_name for r in emulator.ledger().find_by_execution(arn) if r.kind == "transform"]
        time.sleep(0.1)
    (name,) = running
    while emulator.hosting.transforms.get(name) is None or emulator.hosting.transforms[name].records == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    emulator.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="enough")
    assert emulator.wait_execution(arn)["status"] == "ABORTED"
    assert emulator.hosting.wait_transform(name) == "Stopped"
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Stopped"
    assert emulator.hosting.transforms[name].records < 400


def test_a_sweep_deploys_its_best_trial(emulator: Emulator, make_spec: Any) -> None:
    spec = _deploy_spec(make_spec, "dtrain-e2e-sweep")
    spec["sweep"] = {
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": 0.1}, {"lr": 0.05}],
    }
    arn = emulator.start_execution(spec)
    first, second = emulator.jobs_of(arn, count=2)
    # Each trial's archive answers with its own scale: the endpoint says which one it serves.
    _put_model(emulator, first, scale=1)
    _put_model(emulator, second, scale=7)
    emulator.sagemaker.complete(first, metrics={"validation:accuracy": 0.6})
    emulator.sagemaker.complete(second, metrics={"validation:accuracy": 0.8})
    desc = emulator.wait_execution(arn, timeout=180)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert out["best"]["job_name"] == second and out["model"]["training_job_name"] == second
    assert _invoke(emulator, "dtrain-e2e-sweep", [1]) == [7]


def test_an_endpoint_that_cannot_serve_fails_the_execution_with_its_reason(
    emulator: Emulator, make_spec: Any, read_notifications: Any
) -> None:
    read_notifications(emulator)
    arn = emulator.start_execution(_deploy_spec(make_spec, "dtrain-e2e-broken"))
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(job)  # no model.tar.gz where the job says it is
    desc = emulator.wait_execution(arn, timeout=180)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SageMaker.EndpointFailed"
    assert "could not download the model data" in desc["cause"]
    (note,) = read_notifications(emulator)
    assert "FAILED" in note["Subject"] and "SageMaker.EndpointFailed" in note["Message"]
