"""The CLI as a scientist with only the stack's submitter policy (stacks/submitter_policy.py):
submit, status, list, logs and stop all work under it with the emulator enforcing IAM, and
what the policy does not grant is refused with AWS's AccessDenied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # the synth runs the CDK app through jsii

SCIENTIST = "arn:aws:iam::123456789012:user/scientist"


@pytest.fixture(scope="module")
def emulator(aws_env: None, standin_assembly: Path) -> Iterator[Any]:
    from dtrain.emulator.fixtures import standin_emulator

    with standin_emulator(standin_assembly) as emu:
        yield emu


@pytest.fixture
def as_scientist(emulator: Any) -> Iterator[None]:
    from dtrain.emulator.authz.authorizer import Principal
    from dtrain.emulator.authz.hook import acting_as

    iam = emulator.client("iam")
    (policy,) = [
        p for p in iam.list_policies(Scope="Local")["Policies"] if "SubmitterPolicy" in p["PolicyName"]
    ]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    text = document if isinstance(document, str) else json.dumps(document)
    # The emulator serves the whole module: each test sees the refusals of its own calls only
    # (the refusal test's deliberate AccessDenied stays out of the next test's record).
    emulator.authz.refusals.clear()
    with acting_as(Principal(SCIENTIST, policies=(("DtrainSubmitter", text),))):
        yield


def _spec(tmp_path: Any, job_name: str) -> str:
    spec = {
        "framework": "pytorch",
        "job_name": job_name,
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "distribution": {"torch_distributed": {"enabled": True}},
            "hyperparameters": {"epochs": 1},
            "max_run": 3600,
        },
        "inputs": {"train": "s3://emu-data/cifar10/train"},
    }
    path = tmp_path / f"{job_name}.json"
    path.write_text(json.dumps(spec))
    return str(path)


def _processing_spec(tmp_path: Any, job_name: str) -> Path:
    """The spec of `_spec` with a processing step whose script is local (prep.py beside it)."""
    path = tmp_path / f"{job_name}.json"
    spec = json.loads(Path(_spec(tmp_path, job_name)).read_text())
    (tmp_path / "prep.py").write_text("print('prep')\n")
    spec["processing"] = {
        "processor": {
            "image_uri": "ddp",
            "command": ["python3"],
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
        },
        "run": {
            "code": "prep.py",
            "outputs": [{"source": "/opt/ml/processing/output/train", "output_name": "train"}],
        },
    }
    spec["inputs"] = {"train": {"processing_output": "train"}}
    path.write_text(json.dumps(spec))
    return path


def test_submit_status_list_logs_stop_under_the_submitter_policy(
    emulator: Any, as_scientist: None, cli: Any, tmp_path: Any
) -> None:
    submitted = cli.json("submit", _spec(tmp_path, "least-privilege-1"))
    (job,) = emulator.jobs_of(submitted["execution_arn"])
    status = cli.json("status", "least-privilege-1")
    assert [j["name"] for j in status["jobs"]] == [job]
    assert job in [row["job_name"] for row in cli.json("list")]
    code, _, err = cli.run("logs", job)
    assert code in (0, 4), err  # no log stream yet is the command's own answer, not AccessDenied
    assert "AccessDenied" not in err
    assert cli.json("stop", job)["execution_name"] == "least-privilege-1"
    assert not [r for r in emulator.authz.refusals if r.principal == SCIENTIST]


def test_what_the_policy_does_not_grant_is_refused(emulator: Any, as_scientist: None) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as denied:
        emulator.client("sagemaker").stop_training_job(TrainingJobName="dtrain-anything")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"User: {SCIENTIST} is not authorized to perform: sagemaker:StopTrainingJob" in str(denied.value)


def test_the_deployed_platform_draws_no_refusal_of_a_service_principal(emulator: Any) -> None:
    """The post-deploy checks of what services do with the platform's policies (alarms to SNS,
    CloudWatch Logs with the keys admitting only the stack's log groups, issue 29 finding 4)."""
    assert emulator.service_refusals == []


def test_the_scientist_reads_the_platforms_models_and_invokes_its_endpoints_and_nothing_else(
    emulator: Any, as_scientist: None
) -> None:
    """Issue 29 finding 7: model.tar.gz and InvokeEndpoint were refused to the scientist; the
    training data stays out of reach."""
    from botocore.exceptions import ClientError

    from dtrain.emulator.authz.hook import acting_as

    bucket = emulator.output("ArtifactsBucketName")
    model = "jobs/dtrain-finished-job/output/model.tar.gz"
    with acting_as(None):  # what SageMaker wrote at the end of training
        emulator.client("s3").put_object(Bucket=bucket, Key=model, Body=b"weights")
    assert emulator.client("s3").get_object(Bucket=bucket, Key=model)["Body"].read() == b"weights"
    with pytest.raises(ClientError) as data:
        emulator.client("s3").get_object(Bucket=bucket, Key="jobs/dtrain-finished-job/checkpoints/x")
    assert data.value.response["Error"]["Code"] == "AccessDenied"
    runtime = emulator.client("sagemaker-runtime")
    with pytest.raises(ClientError) as missing:  # authorized: SageMaker itself answers
        runtime.invoke_endpoint(EndpointName="dtrain-no-such-endpoint", Body=b"[]")
    assert "AccessDenied" not in missing.value.response["Error"]["Code"]
    with pytest.raises(ClientError) as foreign:
        runtime.invoke_endpoint(EndpointName="someone-elses-endpoint", Body=b"[]")
    assert "AccessDenied" in foreign.value.response["Error"]["Code"]


def test_submit_uploads_a_local_processing_script_under_the_submitter_policy(
    emulator: Any, as_scientist: None, cli: Any, tmp_path: Any
) -> None:
    """Issue 17: a spec with a processing step and a local script: submit puts the script beside
    the source tarball (<execution>/source/processing/) and the processing job reads it there."""
    path = _processing_spec(tmp_path, "least-privilege-processing")
    submitted = cli.json("submit", str(path))
    code = submitted["processing_code"]
    assert code.endswith("/least-privilege-processing/source/processing/prep.py")
    (job,) = emulator.jobs_of(submitted["execution_arn"])
    request = emulator.sagemaker.job(job).request
    (code_input,) = [i for i in request["ProcessingInputs"] if i["InputName"] == "code"]
    assert code_input["S3Input"]["S3Uri"] == code
    bucket, key = code.removeprefix("s3://").split("/", 1)
    from dtrain.emulator.authz.hook import acting_as

    with acting_as(None):  # read back as the test, not the scientist (who may only put it)
        assert emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == b"print('prep')\n"
    cli.json("stop", "least-privilege-processing")
    assert not [r for r in emulator.authz.refusals if r.principal == SCIENTIST]


def _write_log(emulator: Any, group: str, stream: str, message: str) -> None:
    """What SageMaker writes for a job's host (the playback emulator runs no container)."""
    import contextlib
    import time

    from dtrain.emulator.authz.hook import acting_as

    logs = emulator.client("logs")
    with acting_as(None):  # written as SageMaker, not as the scientist
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
        )


def test_status_and_logs_show_the_processing_job_under_the_submitter_policy(
    emulator: Any, as_scientist: None, cli: Any, tmp_path: Any
) -> None:
    """Issue 17: the policy grants sagemaker:DescribeProcessingJob and the processing log group's
    streams of the platform's jobs, so `dtrain status` shows the processing job's live status and
    `dtrain logs EXECUTION` its lines, labelled, before the training job's."""
    submitted = cli.json("submit", str(_processing_spec(tmp_path, "least-privilege-proc-logs")))
    arn = submitted["execution_arn"]
    (proc,) = emulator.jobs_of(arn)
    # Stream names as SageMaker gives them: <job>/<host>-<epoch seconds> (console_links).
    _write_log(emulator, "/aws/sagemaker/ProcessingJobs", f"{proc}/algo-1-1700000000", "prep: 10 records")
    emulator.sagemaker.complete(proc)
    (train,) = [job for job in emulator.jobs_of(arn, count=2) if job != proc]
    _write_log(emulator, "/aws/sagemaker/TrainingJobs", f"{train}/algo-1-1700000001", "epoch 1")

    status = cli.json("status", "least-privilege-proc-logs")
    (processing,) = [job for job in status["jobs"] if job.get("kind") == "processing"]
    # Live, from DescribeProcessingJob: its ARN, end time and outputs are not in the ledger row.
    assert processing["status"] == "Completed"
    assert processing["arn"].endswith(f":processing-job/{proc}")
    assert processing["ended"] and list(processing["outputs"]) == ["train"]
    assert [job["name"] for job in status["jobs"]] == [proc, train]

    code, out, err = cli.run("logs", "least-privilege-proc-logs")
    assert code == 0, err
    assert out.splitlines() == ["[processing algo-1] prep: 10 records", "[algo-1] epoch 1"], err
    code, out, err = cli.run("logs", "least-privilege-proc-logs", "--json")
    assert code == 0, err
    assert [(line["job_kind"], line["message"]) for line in map(json.loads, out.splitlines())] == [
        ("processing", "prep: 10 records"),
        ("training", "epoch 1"),
    ]
    cli.json("stop", "least-privilege-proc-logs")
    assert not [r for r in emulator.authz.refusals if r.principal == SCIENTIST]


def test_status_without_describe_processing_job_falls_back_to_the_ledger(
    emulator: Any, cli: Any, tmp_path: Any
) -> None:
    """A submitter policy deployed before DescribeProcessingJob was granted: `dtrain status`
    still answers, the processing job's status read from the ledger."""
    from dtrain.emulator.authz.authorizer import Principal
    from dtrain.emulator.authz.hook import acting_as

    iam = emulator.client("iam")
    (policy,) = [
        p for p in iam.list_policies(Scope="Local")["Policies"] if "SubmitterPolicy" in p["PolicyName"]
    ]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "DescribeProcessingJobs"]
    older = (("DtrainSubmitter", json.dumps(document)),)
    emulator.authz.refusals.clear()
    with acting_as(Principal(SCIENTIST, policies=older)):
        submitted = cli.json("submit", str(_processing_spec(tmp_path, "least-privilege-old-policy")))
        (proc,) = emulator.jobs_of(submitted["execution_arn"])
        status = cli.json("status", "least-privilege-old-policy")
        (processing,) = status["jobs"]
        assert processing == {"name": proc, "status": "InProgress", "kind": "processing"}
        cli.json("stop", "least-privilege-old-policy")
    refused = {r.action for r in emulator.authz.refusals if r.principal == SCIENTIST}
    assert refused == {"sagemaker:DescribeProcessingJob"}


def test_status_of_a_transform_execution_under_the_submitter_policy(
    emulator: Any, as_scientist: None, cli: Any
) -> None:
    """Issue 26 finding 10: `dtrain status` (and `submit --wait`, which reads the same) of a
    deploy or transform execution calls DescribeEndpoint / DescribeTransformJob, which the
    policy did not grant: the command failed with AccessDenied."""
    from dtrain.emulator.apps import STANDIN_DATA_BUCKET
    from dtrain.emulator.authz.hook import acting_as
    from tests.e2e.conftest import job_spec
    from tests.e2e.test_train_then_deploy import _put_inputs, _train, _transform_spec

    with acting_as(None):  # the platform runs it; the scientist only reads it
        _put_inputs(emulator, "scientist-transform", 2)
        spec = _transform_spec(job_spec, f"s3://{STANDIN_DATA_BUCKET}/scientist-transform/")
        arn, _ = _train(emulator, spec, scale=2)
        assert emulator.wait_execution(arn, timeout=180)["status"] == "SUCCEEDED"
    status = cli.json("status", arn)
    assert [(h["kind"], h["status"]) for h in status["hosting"]] == [("transform", "Completed")]
    assert not [r for r in emulator.authz.refusals if r.principal == SCIENTIST]
