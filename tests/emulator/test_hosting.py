"""The emulator's SageMaker hosting: endpoints served by the local model server, transform jobs
run here (dtrain.emulator.hosting), on moto with the shims and no CDK synth.

The model is a model.tar.gz whose code/inference.py follows SageMaker's inference contract
(model_fn / input_fn / predict_fn / output_fn): what any trained model's archive carries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from dtrain.emulator import hosting
from dtrain.emulator.hosting import HostingBackend
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.emulator.shims import LambdaRuntime, Shims, installed
from tests.emulator.hosting_models import cifar_model_archive, directory_archive, model_archive

REGION = "us-east-1"
BUCKET = "hosting-test"
ROLE = "arn:aws:iam::123456789012:role/exec"


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostingBackend]:
    backend = HostingBackend(workdir=tmp_path_factory.mktemp("hosting"))
    # The Lambdas' scratch in pytest's temporary folder: removed with it, not left in /tmp.
    lambdas = tmp_path_factory.mktemp("lambdas")
    shims = Shims(runtime=LambdaRuntime(workdir=lambdas), sagemaker_backend=EventPlaybackBackend())
    with pytest.MonkeyPatch.context() as mp:
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(k, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws(), installed(shims), hosting.installed(backend):
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            # Every SageMaker event lands in a queue the tests read.
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="sagemaker-events")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events = boto3.client("events", region_name=REGION)
            events.put_rule(Name="all-sagemaker", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
            events.put_targets(Rule="all-sagemaker", Targets=[{"Id": "q", "Arn": arn}])
            backend.events_queue = url  # type: ignore[attr-defined]
            yield backend


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION)


def received(backend: HostingBackend) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=backend.events_queue, MaxNumberOfMessages=10).get("Messages", [])  # type: ignore[attr-defined]
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=backend.events_queue, ReceiptHandle=m["ReceiptHandle"])  # type: ignore[attr-defined]


def create_model(name: str, scale: float, delay: float = 0.0) -> None:
    key = f"models/{name}/model.tar.gz"
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=key, Body=model_archive(scale, delay)
    )
    sm().create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "pytorch-inference", "ModelDataUrl": f"s3://{BUCKET}/{key}"},
    )


def endpoint_config(name: str, model: str) -> None:
    sm().create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )


def invoke(endpoint: str, records: list[Any]) -> Any:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    body = "\n".join(json.dumps(r) for r in records)
    reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="application/json")
    return [json.loads(line) for line in reply["Body"].read().decode().splitlines()]


def test_an_endpoints_life_creating_updates_rollback_errors_deleting_and_each_status(
    hosted: HostingBackend,
) -> None:
    """One endpoint through its whole life, as three tests did on three endpoints (four model
    server starts, ~4 CPU-s each; now two: the first config and the update's): Creating refuses
    DeleteEndpoint/UpdateEndpoint (issue 26: ValidationException, as AWS answers), the model
    answers, an update keeps the old model answering until the new one serves, an update that
    cannot serve rolls back, the model's error is ModelError, Deleting lasts its duration and
    refuses another delete, then the endpoint is gone (ValidationError); an event per status."""
    create_model("m-one", scale=2)
    endpoint_config("c-one", "m-one")
    hosted.durations.endpoint_creating_s = 3.0
    hosted.durations.endpoint_deleting_s = 2.0
    try:
        sm().create_endpoint(EndpointName="ep", EndpointConfigName="c-one")
        assert sm().describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
        with pytest.raises(ClientError, match="already existing endpoint"):
            sm().create_endpoint(EndpointName="ep", EndpointConfigName="c-one")
        arn = sm().describe_endpoint(EndpointName="ep")["EndpointArn"]
        for call in (
            lambda: sm().delete_endpoint(EndpointName="ep"),
            lambda: sm().update_endpoint(EndpointName="ep", EndpointConfigName="c-one"),
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert (
                refused.value.response["Error"]["Message"] == f'Cannot update in-progress endpoint "{arn}".'
            )
        assert sm().describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
        assert hosted.wait_in_service(sm_backend(), "ep") == "InService"
        assert invoke("ep", [{"x": 1}, {"x": 3}]) == [{"y": 2}, {"y": 6}]

        create_model("m-two", scale=10)
        endpoint_config("c-two", "m-two")
        sm().update_endpoint(EndpointName="ep", EndpointConfigName="c-two")
        # While the new config comes up the old model still answers.
        assert invoke("ep", [{"x": 1}]) in ([{"y": 2}], [{"y": 10}])
        assert hosted.wait_in_service(sm_backend(), "ep") == "InService"
        desc = sm().describe_endpoint(EndpointName="ep")
        assert desc["EndpointConfigName"] == "c-two"
        assert invoke("ep", [{"x": 1}]) == [{"y": 10}]

        # An update whose model cannot be served rolls back: c-two keeps serving.
        sm().create_model(
            ModelName="m-missing",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "x", "ModelDataUrl": f"s3://{BUCKET}/models/none/model.tar.gz"},
        )
        endpoint_config("c-missing", "m-missing")
        sm().update_endpoint(EndpointName="ep", EndpointConfigName="c-missing")
        assert hosted.wait_in_service(sm_backend(), "ep") == "InService"
        desc = sm().describe_endpoint(EndpointName="ep")
        assert desc["EndpointConfigName"] == "c-two"
        assert "could not download the model data" in desc["FailureReason"]
        assert invoke("ep", [{"x": 1}]) == [{"y": 10}]

        with pytest.raises(ClientError) as err:
            invoke("ep", ["boom"])
        assert err.value.response["Error"]["Code"] == "ModelError"
        assert err.value.response["OriginalStatusCode"] == 500
        assert "boom requested" in err.value.response["OriginalMessage"]

        sm().delete_endpoint(EndpointName="ep")
        assert "ep" not in hosted.endpoints  # its model server stopped at once
        assert sm().describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Deleting"
        with pytest.raises(ClientError, match="in-progress endpoint"):
            sm().delete_endpoint(EndpointName="ep")
        deadline = time.monotonic() + 10
        while "ep" in sm_backend().endpoints:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        hosted.durations.endpoint_creating_s = hosted.durations.endpoint_deleting_s = 0.0
    with pytest.raises(ClientError) as gone:
        invoke("ep", [{"x": 1}])
    assert gone.value.response["Error"]["Code"] == "ValidationError"

    statuses = [
        (e["detail"]["EndpointStatus"], e["detail"]["EndpointConfigName"])
        for e in received(hosted)
        if e["detail-type"] == "SageMaker Endpoint State Change"
    ]
    # EventBridge's endpoint event writes the status in upper snake case (AWS's sample).
    assert statuses == [
        ("CREATING", "c-one"),
        ("IN_SERVICE", "c-one"),
        ("UPDATING", "c-one"),
        ("IN_SERVICE", "c-two"),
        ("UPDATING", "c-two"),  # the rollback's
        ("IN_SERVICE", "c-two"),
        ("DELETING", "c-two"),
    ]


def put_lines(key: str, values: list[Any]) -> None:
    body = "".join(json.dumps(v) + "\n" for v in values)
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body.encode())


def transform(name: str, model: str, source: dict[str, Any], **extra: Any) -> None:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": source},
            "ContentType": "application/json",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/{name}", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    request.update(extra)
    sm().create_transform_job(**request)


def read_out(key: str) -> list[Any]:
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord"])
def test_transform_writes_one_out_file_per_input_object_as_sagemaker_names_them(
    hosted: HostingBackend, strategy: str
) -> None:
    create_model(f"m-t-{strategy}", scale=5)
    put_lines(f"in-{strategy}/a.jsonl", [{"x": 1}, {"x": 2}])
    put_lines(f"in-{strategy}/sub/b.jsonl", [{"x": 3}])
    name = f"t-{strategy.lower()}"
    transform(
        name,
        f"m-t-{strategy}",
        {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/in-{strategy}/"},
        BatchStrategy=strategy,
    )
    assert hosted.wait_transform(name) == "Completed", hosted.errors.get(name)
    assert read_out(f"out/{name}/a.jsonl.out") == [{"y": 5}, {"y": 10}]
    assert read_out(f"out/{name}/sub/b.jsonl.out") == [{"y": 15}]
    run = hosted.transforms[name]
    assert (run.records, run.objects) == (3, 2)
    ended = [e for e in received(hosted) if e["detail-type"] == "SageMaker Transform Job State Change"]
    assert [e["detail"]["TransformJobStatus"] for e in ended if e["detail"]["TransformJobName"] == name] == [
        "Completed"
    ]


def test_transform_reads_a_manifest_and_joins_each_output_to_its_input(hosted: HostingBackend) -> None:
    create_model("m-manifest", scale=2)
    put_lines("raw/one.jsonl", [{"x": 4}])
    put_lines("raw/two.jsonl", [{"x": 5}])
    manifest = json.dumps([{"prefix": f"s3://{BUCKET}/raw/"}, "one.jsonl", "two.jsonl"])
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key="lists/m.manifest", Body=manifest.encode()
    )
    transform(
        "t-manifest",
        "m-manifest",
        {"S3DataType": "ManifestFile", "S3Uri": f"s3://{BUCKET}/lists/m.manifest"},
        DataProcessing={"JoinSource": "Input"},
    )
    assert hosted.wait_transform("t-manifest") == "Completed", hosted.errors.get("t-manifest")
    assert read_out("out/t-manifest/one.jsonl.out") == [{"x": 4, "SageMakerOutput": {"y": 8}}]
    assert read_out("out/t-manifest/two.jsonl.out") == [{"x": 5, "SageMakerOutput": {"y": 10}}]


def test_csv_records_are_filtered_in_joined_to_their_input_and_filtered_out(hosted: HostingBackend) -> None:
    create_model("m-csv", scale=10)
    body = "a,1\nb,2\nc,3\n"
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="csv/rows.csv", Body=body.encode())
    transform(
        "t-csv",
        "m-csv",
        {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/csv/"},
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/csv/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/out/t-csv",
            "AssembleWith": "Line",
            "Accept": "text/csv",
        },
        BatchStrategy="MultiRecord",
        # The id column is dropped before the model, joined back after, and kept with the output.
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    assert hosted.wait_transform("t-csv") == "Completed", hosted.errors.get("t-csv")
    out = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="out/t-csv/rows.csv.out")
    assert out["Body"].read().decode().splitlines() == ["a,10.0", "b,20.0", "c,30.0"]
    transform(
        "t-csv-bad",
        "m-csv",
        {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/csv/"},
        DataProcessing={"InputFilter": "$..x"},
    )
    assert hosted.wait_transform("t-csv-bad") == "Failed"
    assert "InputFilter '$..x' is not emulated" in hosted.errors["t-csv-bad"]
    assert hosted.transforms["t-csv-bad"].served_at is None  # failed before a model server started


def test_recordio_records_are_sent_whole_and_batched_within_max_payload(hosted: HostingBackend) -> None:
    """SplitType RecordIO: each request is whole RecordIO records (framing kept); MultiRecord packs as
    many as MaxPayloadInMB holds (the split and the limits: test_transform_records)."""
    from tests.emulator.test_transform_records import frame

    create_model("m-recordio", scale=3)
    padding = " " * (400 * 1024)  # two records fit in 1 MB, three do not: two requests
    records = [frame(json.dumps({"x": i, "pad": padding}).encode()) for i in (1, 2, 3)]
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="rio/in/data.rec", Body=b"".join(records))
    request = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/rio/in/"}},
        "ContentType": "application/x-recordio",
        "SplitType": "RecordIO",
    }
    transform(
        "t-recordio", "m-recordio", {}, TransformInput=request, BatchStrategy="MultiRecord", MaxPayloadInMB=1
    )
    assert hosted.wait_transform("t-recordio") == "Completed", hosted.errors.get("t-recordio")
    assert read_out("out/t-recordio/data.rec.out") == [{"y": 3}, {"y": 6}, {"y": 9}]
    assert hosted.transforms["t-recordio"].records == 3


@pytest.mark.horovod
def test_a_keras_model_transforms_npy_objects_and_a_png_sent_as_npy_fails_the_job(
    hosted: HostingBackend, keras_saved_model: Path
) -> None:
    """A TensorFlow model in the emulator: the Keras trainers' archive (their network and handlers:
    the session's, tests/serving/keras_model.py) under the TF Serving image's Python service, one
    object a request (SplitType None); an object that is not what its ContentType says is the
    handler's 500, which fails the job after the objects before it."""
    import numpy as np

    from tests.serving.matrix_cases import npy, png

    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(
        Bucket=BUCKET, Key="models/keras/model.tar.gz", Body=directory_archive(keras_saved_model / "packaged")
    )
    sm().create_model(
        ModelName="m-keras",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "tensorflow-inference",
            "ModelDataUrl": f"s3://{BUCKET}/models/keras/model.tar.gz",
        },
    )
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    s3.put_object(Bucket=BUCKET, Key="npy/a.npy", Body=npy(images))
    s3.put_object(Bucket=BUCKET, Key="npy/b.npy", Body=png())
    request = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/npy/"}},
        "ContentType": "application/x-npy",
        "SplitType": "None",
    }
    transform("t-keras", "m-keras", {}, TransformInput=request)
    assert hosted.wait_transform("t-keras") == "Failed"
    reason = sm().describe_transform_job(TransformJobName="t-keras")["FailureReason"]
    assert "answered 500" in reason and "the body is not a .npy array" in reason, reason
    (answer,) = read_out("out/t-keras/a.npy.out")
    assert np.array(answer["predictions"]).shape == (3, 10)


def test_the_trainers_pytorch_model_transforms_json_and_refused_types_fail_with_its_400(
    hosted: HostingBackend, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The content-type matrix's PyTorch rows in transform jobs: bodies go to TorchServe as they are
    (SplitType None), so a JSON object of images is answered, and the matrix's refused rows (image/png,
    image/jpeg, application/jsonlines: their bodies and expected answers from
    tests/serving/matrix_cases.py) are the model's own 400, which fails each job with that answer.
    Slow: one TorchServe per job (a job's ContentType is one type), the four start together."""
    import numpy as np

    from tests.serving.matrix_cases import cases

    refused = [
        c for c in cases() if c.stack == "bundled" and c.name in ("x-image PNG", "x-image JPEG", "JSON Lines")
    ]
    assert len(refused) == 3
    s3 = boto3.client("s3", region_name=REGION)
    key = "models/cifar/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=cifar_model_archive(tmp_path_factory.mktemp("c")))
    sm().create_model(
        ModelName="m-cifar",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "pytorch-inference", "ModelDataUrl": f"s3://{BUCKET}/{key}"},
    )
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    s3.put_object(Bucket=BUCKET, Key="cifar-json/a.json", Body=json.dumps(images.tolist()).encode())
    jobs = [("t-cifar-json", "cifar-json", "application/json")]
    for number, case in enumerate(refused):
        s3.put_object(Bucket=BUCKET, Key=f"cifar-refused-{number}/a", Body=case.body)
        jobs.append((f"t-cifar-refused-{number}", f"cifar-refused-{number}", case.content_type))
    for name, folder, content_type in jobs:
        request = {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{folder}/"}},
            "ContentType": content_type,
            "SplitType": "None",
        }
        transform(name, "m-cifar", {}, TransformInput=request)
    assert hosted.wait_transform("t-cifar-json") == "Completed", hosted.errors.get("t-cifar-json")
    (answer,) = read_out("out/t-cifar-json/a.json.out")
    assert np.array(answer).shape == (3, 10)
    for number, case in enumerate(refused):
        name = f"t-cifar-refused-{number}"
        assert hosted.wait_transform(name) == "Failed", case.name
        reason = sm().describe_transform_job(TransformJobName=name)["FailureReason"]
        assert f"answered {case.status}" in reason and case.expect in reason, (case.name, reason)


def test_a_failing_record_fails_the_job_with_the_models_answer_and_stop_stops_it(
    hosted: HostingBackend,
) -> None:
    create_model("m-bad", scale=1)
    put_lines("bad/x.jsonl", [{"x": 1}, "boom"])
    transform("t-bad", "m-bad", {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/bad/"})
    assert hosted.wait_transform("t-bad") == "Failed"
    reason = sm().describe_transform_job(TransformJobName="t-bad")["FailureReason"]
    assert "answered 500" in reason and "boom requested" in reason

    create_model("m-slow", scale=1, delay=0.5)
    put_lines("slow/x.jsonl", [{"x": i} for i in range(200)])
    transform("t-slow", "m-slow", {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/slow/"})
    deadline = time.monotonic() + 120
    while hosted.transforms["t-slow"].records == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    hosted.durations.job_stopping_s = 2.0
    try:
        sm().stop_transform_job(TransformJobName="t-slow")
        assert sm().describe_transform_job(TransformJobName="t-slow")["TransformJobStatus"] == "Stopping"
        assert hosted.wait_transform("t-slow") == "Stopped"
    finally:
        hosted.durations.job_stopping_s = 0.0
    assert hosted.transforms["t-slow"].records < 200
    with pytest.raises(ClientError, match="rejected because the transform job is in status Stopped"):
        sm().stop_transform_job(TransformJobName="t-slow")


def sm_backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends["123456789012"][REGION]
