"""The emulator's shims and deploy, each on the smallest real input (no CDK synth here)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dtrain.emulator.deploy import deploy_assembly
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.emulator.shims import Fault, LambdaRuntime, Shims, installed

REGION = "us-east-1"
HANDLER = """
import os
def handler(event, context):
    if event.get("boom"):
        raise ValueError("boom requested")
    return {"greeting": os.environ["GREETING"], "got": event.get("detail-type") or event}
"""


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def shims(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Shims]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("GREETING", raising=False)
    # The Lambdas' scratch in pytest's temporary folder: removed with it, not left in /tmp.
    s = Shims(runtime=LambdaRuntime(workdir=tmp_path / "lambdas"), sagemaker_backend=EventPlaybackBackend())
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), installed(s):
        yield s


def _function(name: str = "greeter") -> str:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    out = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip({"handler.py": HANDLER})},
        Environment={"Variables": {"GREETING": "hello"}},
    )
    return str(out["FunctionArn"])


def test_lambda_runs_the_handler_from_its_zip_with_its_environment(shims: Shims) -> None:
    _function()
    lam = boto3.client("lambda")
    out = lam.invoke(FunctionName="greeter", Payload=b'{"x": 1}')
    assert json.loads(out["Payload"].read()) == {"greeting": "hello", "got": {"x": 1}}
    failed = lam.invoke(FunctionName="greeter", Payload=b'{"boom": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "ValueError"
    # What a timed-out wait names (Emulator._failures_note): the failed invocation, one line.
    (line,) = shims.runtime.failures()
    assert line == "greeter: ValueError: boom requested"


def test_injected_fault_runs_the_handler_then_fails_the_invocation(shims: Shims) -> None:
    _function()
    shims.runtime.faults.append(Fault("greeter", "Sandbox.Timedout"))
    out = boto3.client("lambda").invoke(FunctionName="greeter", Payload=b"{}")
    assert json.loads(out["Payload"].read())["errorType"] == "Sandbox.Timedout"
    assert shims.runtime.invocations[-1].error == "Sandbox.Timedout"


def test_eventbridge_delivers_matching_events_to_lambda_targets(shims: Shims) -> None:
    arn = _function()
    events = boto3.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": arn}])
    events.put_events(Entries=[{"Source": "aws.sagemaker", "DetailType": "Job", "Detail": "{}"}])
    events.put_events(Entries=[{"Source": "other", "DetailType": "Nope", "Detail": "{}"}])
    shims.drain()
    assert [i.result["got"] for i in shims.runtime.invocations] == ["Job"]


def _create_job(name: str) -> None:
    boto3.client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/r",
        OutputDataConfig={"S3OutputPath": "s3://b/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )


def test_sagemaker_refuses_a_duplicate_name_throttles_and_stops(shims: Shims) -> None:
    sm = boto3.client("sagemaker")
    _create_job("dtrain-a")
    assert sm.describe_training_job(TrainingJobName="dtrain-a")["TrainingJobStatus"] == "InProgress"
    with pytest.raises(ClientError, match="ResourceInUse"):
        _create_job("dtrain-a")
    backend: Any = shims.sagemaker_backend
    backend.throttle.rate_per_s = 0.001
    _create_job("dtrain-b")
    with pytest.raises(ClientError, match="ThrottlingException"):
        boto3.client("sagemaker", config=Config(retries={"total_max_attempts": 1})).create_training_job(
            TrainingJobName="dtrain-c",
            AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::123456789012:role/r",
            OutputDataConfig={"S3OutputPath": "s3://b/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
    sm.stop_training_job(TrainingJobName="dtrain-a")
    job = sm.describe_training_job(TrainingJobName="dtrain-a")
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]


def test_deploy_publishes_assets_creates_stacks_in_order_and_lists_what_it_cannot_model(
    shims: Shims, tmp_path: Path
) -> None:
    asset = tmp_path / "asset.abc"
    asset.mkdir()
    (asset / "handler.py").write_text(HANDLER)
    (tmp_path / "B.assets.json").write_text(
        json.dumps(
            {
                "files": {
                    "abc": {
                        "source": {"path": "asset.abc", "packaging": "zip"},
                        "destinations": {
                            "d": {
                                "bucketName": "assets-${AWS::AccountId}-${AWS::Region}",
                                "objectKey": "abc.zip",
                            }
                        },
                    }
                },
                "dockerImages": {"img1": {}},
            }
        )
    )
    (tmp_path / "A.template.json").write_text(
        json.dumps(
            {
                "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"QueueUrl": {"Value": {"Ref": "Q"}, "Export": {"Name": "A-Q"}}},
            }
        )
    )
    (tmp_path / "B.template.json").write_text(
        json.dumps(
            {
                "Resources": {
                    "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Code": {"S3Bucket": "assets-123456789012-us-east-1", "S3Key": "abc.zip"},
                            "Handler": "handler.handler",
                            "Runtime": "python3.12",
                            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                            "Environment": {"Variables": {"GREETING": {"Fn::ImportValue": "A-Q"}}},
                        },
                    },
                    "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
                },
                "Outputs": {"FnName": {"Value": {"Ref": "Fn"}}},
            }
        )
    )
    manifest = {
        "artifacts": {
            "B.assets": {"type": "cdk:asset-manifest", "properties": {"file": "B.assets.json"}},
            "B": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "B.template.json"},
                "dependencies": ["A", "B.assets"],
            },
            "A": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "A.template.json"}},
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    deployment = deploy_assembly(boto3.Session(), tmp_path, account="123456789012", region=REGION)
    assert list(deployment.stacks) == ["A", "B"]
    assert {s.status for s in deployment.stacks.values()} == {"CREATE_COMPLETE"}
    assert deployment.not_modelled() == ["B: AWS::CloudWatch::Alarm"]
    assert deployment.skipped_assets == ["docker image img1 (no registry in the emulator)"]
    out = boto3.client("lambda").invoke(FunctionName=deployment.output("B", "FnName"), Payload=b"{}")
    # The asset's code runs, and the cross-stack import resolved to stack A's output.
    assert json.loads(out["Payload"].read())["greeting"] == deployment.output("A", "QueueUrl")


def test_deploy_names_a_stack_by_its_cloudformation_name_not_its_artifact_id(
    shims: Shims, tmp_path: Path
) -> None:
    # A DtrainPlatform's child stacks have hashed artifact ids (CDK derives them from the construct
    # path, here Plat/Network); CloudFormation knows them by the manifest's stackName, as the emulator must.
    artifact = "PlatNetworkA1B2C3D4"
    (tmp_path / f"{artifact}.template.json").write_text(
        json.dumps(
            {
                "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"QueueUrl": {"Value": {"Ref": "Q"}}},
            }
        )
    )
    stack = {"templateFile": f"{artifact}.template.json", "stackName": "PlatNetwork"}
    manifest = {
        "artifacts": {
            artifact: {"type": "aws:cloudformation:stack", "displayName": "Plat/Network", "properties": stack}
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    deployment = deploy_assembly(boto3.Session(), tmp_path, account="123456789012", region=REGION)
    assert list(deployment.stacks) == ["PlatNetwork"]
    described = boto3.client("cloudformation").describe_stacks(StackName="PlatNetwork")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert deployment.output("PlatNetwork", "QueueUrl").startswith("https://")


TOKEN_HANDLER = """
from pathlib import Path
def handler(event, context):
    Path(event["path"]).write_text(event["token"])
"""


def _token_writing_function(name: str, handler: str) -> str:
    """A Lambda whose handler (`handler`'s code) writes the task token it is given to a file."""
    boto3.client("iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")
    return str(
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/lambda-role",
            Handler="handler.handler",
            Code={"ZipFile": _zip({"handler.py": handler})},
        )["FunctionArn"]
    )


def _token_task(fn: str, token_file: Path) -> dict[str, Any]:
    """A task state that invokes `fn` with its task token and waits for the token's answer."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": fn, "Payload": {"token.$": "$$.Task.Token", "path": str(token_file)}},
        "End": True,
    }


def _written_token(token_file: Path, deadline: float) -> str:
    while not token_file.exists() or not token_file.read_text():
        assert time.monotonic() < deadline, "the task's Lambda never ran"
        time.sleep(0.05)
    return token_file.read_text()


def test_a_task_token_is_answered_while_another_execution_is_still_starting(
    shims: Shims, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SendTaskSuccess looks for its token in every execution; one that StartExecution has listed
    but whose worker has not yet set up its environment (it parses the definition first) made it
    raise AttributeError when its state machine came first (CI-F's lost job event)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    role = "arn:aws:iam::123456789012:role/sfn"
    fn = _token_writing_function("token-keeper", TOKEN_HANDLER)
    sfn = boto3.client("stepfunctions")
    starting_first = sfn.create_state_machine(
        name="listed-first",
        roleArn=role,
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    token_file = tmp_path / "token"
    waiter = sfn.create_state_machine(
        name="waits-for-its-token",
        roleArn=role,
        definition=json.dumps({"StartAt": "W", "States": {"W": _token_task(fn, token_file)}}),
    )["stateMachineArn"]
    waiting = sfn.start_execution(stateMachineArn=waiter, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    token = _written_token(token_file, deadline)
    # The next execution's worker holds before its environment exists, as a busy machine's does.
    gate = threading.Event()
    original = ExecutionWorker._get_evaluation_entrypoint

    def held_entrypoint(self: Any) -> Any:
        gate.wait(30)
        return original(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", held_entrypoint)
    starting = sfn.start_execution(stateMachineArn=starting_first, input="{}")["executionArn"]
    try:
        sfn.send_task_success(taskToken=token, output='{"answered": true}')
    finally:
        gate.set()
    for arn in (waiting, starting):
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() < deadline + 30
            time.sleep(0.05)
    assert sfn.describe_execution(executionArn=waiting)["status"] == "SUCCEEDED"
    assert sfn.describe_execution(executionArn=starting)["status"] == "SUCCEEDED"


SLOW_TOKEN_HANDLER = """
import time
from pathlib import Path
def handler(event, context):
    Path(event["path"]).write_text(event["token"])
    go = Path(event["path"] + ".go")
    while not go.exists():
        time.sleep(0.02)
"""


def test_an_execution_stopped_while_its_task_runs_stays_aborted_whatever_answers_its_token(
    shims: Shims, tmp_path: Path
) -> None:
    """StopExecution while a task's Lambda still runs (an abort while Submit creates the job), then
    a failure answered to the task's token (the stopped job's TrainingJobStopped) before the Lambda
    returns: the execution is ABORTED, as in AWS, not FAILED by the failed state."""
    fn = _token_writing_function("slow-submit", SLOW_TOKEN_HANDLER)
    sfn = boto3.client("stepfunctions")
    token_file = tmp_path / "token"
    task = {**_token_task(fn, token_file), "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]}
    machine = sfn.create_state_machine(
        name="stopped-while-submitting",
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Submit", "States": {"Submit": task, "Failed": {"Type": "Fail"}}}),
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    token = _written_token(token_file, deadline)
    sfn.stop_execution(executionArn=arn, error="user", cause="changed my mind")
    sfn.send_task_failure(taskToken=token, error="SageMaker.TrainingJobStopped", cause="stopped")
    (tmp_path / "token.go").touch()
    while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution never ended"
        time.sleep(0.05)
    assert status == "ABORTED"
