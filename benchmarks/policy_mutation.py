"""Policy mutation: remove each policy statement in turn, redeploy, run the chain, record
whether anything noticed.

    .venv/bin/python benchmarks/policy_mutation.py [--only TEXT ...] [--limit N] [--no-training]

Statements: every statement of every IAM policy, role trust policy, key, bucket and topic
policy and every Lambda permission of the stand-in platform's templates (DtrainStandIn +
DtrainOrchestration, the real OrchestrationStack). For each: the platform without it (the
policy put through the API into one deployed emulator and put back after, see push_policy; a
Lambda permission or a policy resource that goes with its last statement is redeployed into a
fresh emulator) runs with enforcement on, and the SCENARIOS run: the chain
(StartExecution -> Submit -> the job -> its completion event -> JobEvents -> Finalize ->
Notify), Submit's retry adopting its job, a lost event closed by Reconcile, an aborted
execution whose job AbortJob stops, a sweep, a processing step before training (its lost event,
its abort, its lost abort), training then deploy (InvokeEndpoint answers; the model's phase
retried adopts it) and training then transform (its output read back; its abort and lost abort),
and a scientist running the CLI under the stack's submitter policy. Caught = a scenario went
wrong, or a refusal was recorded (the post-deploy service checks included). The execution
role's statements instead get a job that really trains through local mode (CPU, ~1 min each;
--no-training skips them), except its hosting statements (HOSTING_SIDS), which the emulator's
endpoints and transform jobs use: those run live.

Not caught is then classified from REAL_AWS_ONLY (what the emulator does not model, so the
statement stays, with that reason) or reported as "not caught" (unneeded, or a missing test).
On 2 cores a statement takes a few seconds live, ~1 min redeployed or trained: --only/--limit pick a subset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botocore.exceptions import ClientError  # noqa: E402

from dtrain.emulator import Emulator  # noqa: E402
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app  # noqa: E402
from dtrain.emulator.authz.mutation import StatementRef, assembly_with, statements, without  # noqa: E402

STACKS = ("DtrainStandIn", "DtrainOrchestration")
# Statements the emulator cannot exercise, by what they grant (substring of the summary).
REAL_AWS_ONLY = {
    "logs:CreateLogStream": "Lambda's own log stream: the in-process runtime writes no Lambda logs",
    "xray:": "X-Ray tracing is not emulated",
    "ec2:": "VPC network interfaces: the emulator does not place jobs or Lambdas in a VPC",
    "Deny ": "a guard (Deny): removing it loosens, nothing that should work fails",
    "logs.": "state machine logging to an encrypted log group: moto's Step Functions writes no logs",
    "logs:CreateLogDelivery": "Step Functions log delivery: not emulated",
    "Allow cloudwatch:PutMetricData": (
        "SageMaker publishes a job's metrics with the execution role (SageMaker Developer Guide, "
        "CreateTrainingJob execution role permissions); the emulator's backend publishes none"
    ),
    # Submit's grant on the data key (volume and output key of its jobs): SageMaker documents the
    # execution role's key permissions (checked: authz.calls.job_key_checks), not the caller's;
    # kept because launching instances with a CMK-encrypted volume makes EC2 create the grant
    # with the requester's permissions (AWS knowledge center "kms-iam-ec2-permission"), which
    # SageMaker may forward: not documented either way, so not modelled and not removed.
    "Allow kms:CreateGrant,kms:DescribeKey": (
        "SageMaker may create the volume grant as its caller (undocumented)"
    ),
    # SageMaker pulls a model's inference image with the model's execution role ("SageMaker AI
    # Roles" > CreateModel API: Execution Role Permissions); the emulator serves the model with
    # dtrain.serving in process and pulls no image.
    "PullInferenceImages:": "inference image pull: the emulator serves models in process, it pulls no image",
    "InferenceImageRegistryLogin:": "registry login for the inference image pull: no image is pulled",
}
# The same by the resource holding the statement (logical id substring).
REAL_AWS_ONLY_RESOURCES = {
    "ReconcileSchedule": "EventBridge invokes Reconcile on its schedule; the emulator runs no schedule "
    "(it invokes Reconcile on demand through the Lambda API)",
}
# Statements on paths the scenarios do not reach (a race or a lost ledger row), each pinned by
# the Lambda's unit tests without enforcement: kept, and listed as a missing scenario.
NOT_REACHED = {
    "ExecutionRole": {
        # grant_read_write's actions (the artifacts bucket's statement, the same, is caught)
        "s3:GetObject*,s3:GetBucket*,s3:List*,s3:DeleteObject*,s3:PutObject,s3:PutObjectLegalHold,"
        "s3:PutObjectRetention,s3:PutObjectTagging,s3:PutObjectVersionTagging,s3:Abort*": ""
        "the checkpoints bucket: a 2-step training run writes no checkpoint to sync "
        "(checkpoint sync is pinned by the local-mode spot/resume tests, without enforcement)",
    },
    "SubmitJobRole": {
        "sagemaker:ListTags": "Submit adopts a job by its tag only when CreateTrainingJob says ResourceInUse "
        "and the ledger has no row (tests/lambda/test_submit_job.py)",
        "sagemaker:StopTrainingJob": "Submit stops a job whose execution ended while it was being created "
        "(an abort during the throttle back-off; tests/lambda/test_job_events_reconcile_abort.py)",
        "sagemaker:StopProcessingJob": "the same race for a processing job (Submitter.submit's stop is "
        "per job kind; the training case is pinned by test_submit_racing_an_abort_stops_the_job_it_created)",
    },
}
SPEC: dict[str, Any] = {
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "hyperparameters": {"epochs": 1, "batch_size": 32, "max_steps": 2, "width": 8},
        "max_run": 600,
    },
    "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/cifar10/"},
}


def run_chain(path: Path, with_training: bool, work: Path, scenarios: tuple[Any, ...] = ()) -> str:
    """'' when every scenario succeeded and nothing was refused; else what noticed."""
    scenarios = scenarios or SCENARIOS
    backend = None
    if with_training:
        from dtrain.emulator.local_backend import LocalRunnerBackend
        from dtrain.local import LocalConfig

        ddp = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:latest"
        backend = LocalRunnerBackend(workdir=work / "jobs", config=LocalConfig(images={ddp: "ddp"}))
    try:
        with Emulator(path, sagemaker=backend, announce=False) as emu:
            if emu.service_refusals:
                return emu.service_refusals[0]
            if with_training:
                _upload_sample(emu, work)
                arn = emu.start_execution(SPEC)
                desc = emu.wait_execution(arn, timeout=300)
                noticed = "" if desc["status"] == "SUCCEEDED" else f"{desc['status']}: {desc.get('cause')}"
            else:
                noticed = next(filter(None, (scenario(emu, work) for scenario in scenarios)), "")
            if noticed:
                return noticed
            if emu.authz.refusals:
                return str(emu.authz.refusals[0].message)
    except Exception as exc:  # a deploy or chain that breaks is noticed too
        return f"{type(exc).__name__}: {exc}"
    return ""


def run_scenarios(emu: Emulator, work: Path, scenarios: tuple[Any, ...]) -> str:
    """The scenarios on an emulator already deployed (live mutation): what noticed, or ''."""
    from dtrain.emulator.authz.service_checks import check_service_principals

    emu.authz.refusals.clear()
    try:
        noticed = next(iter(check_service_principals(emu.authz)), "")
        noticed = noticed or next(filter(None, (scenario(emu, work) for scenario in scenarios)), "")
    except Exception as exc:
        noticed = f"{type(exc).__name__}: {exc}"
    return str(noticed or (emu.authz.refusals[0].message if emu.authz.refusals else ""))


# Resource types whose policy the deployed platform takes through the API, so a statement is
# removed (and put back) without redeploying: the authorizer reads IAM, key, bucket, topic and
# file-system policies live (moto_state). Others (a Lambda permission, a policy resource
# dropped with its last statement) are redeployed.
LIVE_TYPES = frozenset(
    {
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::EFS::FileSystem",
    }
)


def push_policy(emu: Emulator, stack_name: str, logical_id: str, res_type: str, props: Any, was: Any) -> bool:
    """Put the resource's policy documents from `props` (None: the resource is gone) into the
    deployed platform through the API, as CloudFormation's update would; False if not live."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    if res_type not in LIVE_TYPES:
        return False
    backend = cloudformation_backends[emu.account][emu.region]
    stack = next(x for x in backend.stacks.values() if x.name == stack_name and x.status != "DELETE_COMPLETE")
    physical = str(clean_json({"Ref": logical_id}, stack.resource_map))
    iam = emu.client("iam")
    if res_type == "AWS::IAM::Policy":
        target = clean_json(props if props is not None else was, stack.resource_map)
        for role in target.get("Roles", []):
            if props is None:
                iam.delete_role_policy(RoleName=role, PolicyName=target["PolicyName"])
            else:
                document = json.dumps(target["PolicyDocument"])
                iam.put_role_policy(RoleName=role, PolicyName=target["PolicyName"], PolicyDocument=document)
        return True
    if props is None:
        return False
    resolved = clean_json(props, stack.resource_map)
    if res_type == "AWS::IAM::ManagedPolicy":
        for version in iam.list_policy_versions(PolicyArn=physical)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=physical, VersionId=version["VersionId"])
        document = json.dumps(resolved["PolicyDocument"])
        iam.create_policy_version(PolicyArn=physical, PolicyDocument=document, SetAsDefault=True)
    elif res_type == "AWS::IAM::Role":
        trust = json.dumps(resolved["AssumeRolePolicyDocument"])
        iam.update_assume_role_policy(RoleName=physical, PolicyDocument=trust)
        for policy in resolved.get("Policies", []):
            document = json.dumps(policy["PolicyDocument"])
            iam.put_role_policy(RoleName=physical, PolicyName=policy["PolicyName"], PolicyDocument=document)
    elif res_type == "AWS::KMS::Key":
        key_policy = json.dumps(resolved["KeyPolicy"])
        emu.client("kms").put_key_policy(KeyId=physical, PolicyName="default", Policy=key_policy)
    elif res_type == "AWS::S3::BucketPolicy":
        bucket_policy = json.dumps(resolved["PolicyDocument"])
        emu.client("s3").put_bucket_policy(Bucket=resolved["Bucket"], Policy=bucket_policy)
    elif res_type == "AWS::SNS::TopicPolicy":
        topic_policy = json.dumps(resolved["PolicyDocument"])
        for topic in resolved["Topics"]:
            emu.client("sns").set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=topic_policy
            )
    elif res_type == "AWS::EFS::FileSystem":
        fs_policy = json.dumps(resolved["FileSystemPolicy"])
        emu.client("efs").put_file_system_policy(FileSystemId=physical, Policy=fs_policy)
    return True


# -- scenarios: each exercises a path of the platform and says what went wrong ('' = fine) ----
# How long a scenario waits for a job to be created (a loaded 2-core machine is slow).
JOB_WAIT_S = 60


def _ended(emu: Emulator, arn: str, want: str = "SUCCEEDED") -> str:
    desc = emu.wait_execution(arn, timeout=30)
    if desc["status"] != want:
        return f"{desc['status']}: {desc.get('cause') or desc.get('error')}"
    return ""


def chain(emu: Emulator, work: Path) -> str:
    """StartExecution -> Submit -> the job's completion event -> JobEvents -> Finalize -> Notify.
    The spec names an experiment and a trial: Submit creates (or adopts) them before the job."""
    experiment = {"ExperimentName": "mutation-experiment", "TrialName": "mutation-trial"}
    arn = emu.start_execution({**SPEC, "experiment_config": experiment})
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return _ended(emu, arn)


def sweep(emu: Emulator, work: Path) -> str:
    """A sweep of two: Finalize keeps each job's result in its ledger row and reads them back."""
    spec = {
        **SPEC,
        "sweep": {
            "max_concurrency": 2,
            "objective": {"metric": "validation:accuracy", "goal": "maximize"},
            "overrides": [{"lr": 0.1}, {"lr": 0.01}],
        },
    }
    arn = emu.start_execution(spec)
    for job in emu.jobs_of(arn, count=2, timeout=JOB_WAIT_S):
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return _ended(emu, arn)


def _submitted(emu: Emulator, job: str) -> None:
    for _ in range(400):  # until Submit has recorded the job (its own check would see it end)
        row = emu.ledger().get(job)
        if row and row.status == "InProgress":
            return
        emu.drain_events()
        time.sleep(0.01)


def submit_retry_adopts(emu: Emulator, work: Path) -> str:
    """Submit times out after creating the job; its retry adopts it (DescribeTrainingJob, ListTags)."""
    from dtrain.emulator.shims import Fault

    emu.inject_fault(
        Fault("SubmitJob", "Sandbox.Timedout", "Task timed out", when=lambda e: e.get("phase") == "submit")
    )
    arn = emu.start_execution(SPEC)
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    for _ in range(400):
        if sum(e["type"] == "TaskScheduled" for e in emu.history(arn)) >= 2:
            break
        emu.drain_events()
    _submitted(emu, job)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return _ended(emu, arn)


def lost_event_reconciled(emu: Emulator, work: Path) -> str:
    """The job's state-change event is lost; Reconcile finds the ended job and answers its token."""
    arn = emu.start_execution(SPEC)
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, job)
    emu.sagemaker.complete(job, emit=False)
    emu.drain_events()
    report = emu.reconcile()
    if job not in report.get("answered", []):
        return f"reconcile did not answer {job}: {report}"
    return _ended(emu, arn)


def aborted_execution_stops_its_job(emu: Emulator, work: Path) -> str:
    """StopExecution: the execution-end event makes AbortJob stop the training job."""
    arn = emu.start_execution(SPEC)
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, job)
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="mutation run")
    noticed = _ended(emu, arn, "ABORTED")
    emu.drain_events()
    status = emu.sagemaker.job(job).status
    return noticed or ("" if status == "Stopped" else f"job {job} left {status} after its execution aborted")


def lost_abort_event_reconciled(emu: Emulator, work: Path) -> str:
    """The execution-end event of an aborted execution is lost: Reconcile (the backstop) stops
    the job AbortJob never heard of."""
    arn = emu.start_execution(SPEC)
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, job)
    emu.behaviour.lose_execution_events(1)
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="mutation run")
    noticed = _ended(emu, arn, "ABORTED")
    emu.reconcile()
    emu.drain_events()
    status = emu.sagemaker.job(job).status
    return noticed or (
        "" if status == "Stopped" else f"reconcile left {job} {status} after its execution aborted"
    )


# -- processing (a processing job before training; dtrain.orchestration.processing) ----------
def _processing_spec() -> dict[str, Any]:
    """SPEC with a processing step whose outputs are training's channels (as
    tests/e2e/test_processing_step.py; the played backend runs no code, so none is uploaded)."""
    return {
        **SPEC,
        "processing": {
            "processor": {
                "image_uri": "ddp",
                "command": ["python3"],
                "instance_type": "ml.m5.xlarge",
                "instance_count": 1,
                "max_runtime_in_seconds": 1800,
                "base_job_name": "mutation-prep",
            },
            "run": {
                "code": f"s3://{STANDIN_DATA_BUCKET}/code/preprocess_cifar10.py",
                "inputs": [
                    {
                        "source": f"s3://{STANDIN_DATA_BUCKET}/cifar10/raw",
                        "destination": "/opt/ml/processing/input/raw",
                        "input_name": "raw",
                    }
                ],
                "outputs": [{"source": "/opt/ml/processing/output/train", "output_name": "train"}],
            },
        },
        "inputs": {"train": {"processing_output": "train"}},
    }


def processing_then_training(emu: Emulator, work: Path) -> str:
    """Process (CreateProcessingJob) -> its state-change event -> JobEvents -> Submit -> the job
    -> Finalize -> Notify; Reconcile looks at the running processing job on its way."""
    arn = emu.start_execution(_processing_spec())
    (proc,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, proc)
    emu.reconcile()  # DescribeProcessingJob of the open row (it is still running: nothing answered)
    emu.sagemaker.complete(proc)
    (train,) = [j for j in emu.jobs_of(arn, count=2, timeout=JOB_WAIT_S) if j != proc]
    emu.sagemaker.complete(train, metrics={"validation:accuracy": 0.9})
    return _ended(emu, arn)


def lost_processing_event_reconciled(emu: Emulator, work: Path) -> str:
    """The processing job's event is lost: Reconcile finds it ended and answers its token."""
    arn = emu.start_execution(_processing_spec())
    (proc,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, proc)
    emu.sagemaker.complete(proc, emit=False)
    emu.drain_events()
    report = emu.reconcile()
    if proc not in report.get("answered", []):
        return f"reconcile did not answer {proc}: {report}"
    (train,) = [j for j in emu.jobs_of(arn, count=2, timeout=JOB_WAIT_S) if j != proc]
    emu.sagemaker.complete(train, metrics={"validation:accuracy": 0.9})
    return _ended(emu, arn)


def _aborted_during_processing(emu: Emulator, lose_event: bool) -> str:
    arn = emu.start_execution(_processing_spec())
    (proc,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    _submitted(emu, proc)
    if lose_event:
        emu.behaviour.lose_execution_events(1)
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="mutation run")
    noticed = _ended(emu, arn, "ABORTED")
    if lose_event:
        emu.reconcile()
    emu.drain_events()
    status = emu.sagemaker.job(proc).status
    by = "Reconcile" if lose_event else "AbortJob"
    return noticed or ("" if status == "Stopped" else f"{by} left processing job {proc} {status}")


def aborted_during_processing(emu: Emulator, work: Path) -> str:
    """StopExecution while the processing job runs: AbortJob stops it (StopProcessingJob)."""
    return _aborted_during_processing(emu, lose_event=False)


def lost_abort_during_processing_reconciled(emu: Emulator, work: Path) -> str:
    """The same with the execution-end event lost: Reconcile stops the processing job."""
    return _aborted_during_processing(emu, lose_event=True)


# -- hosting after training (deploy: model, endpoint config, endpoint; transform) -------------
# As tests/e2e/test_train_then_deploy.py: training is played, the model archive it "produced" is
# put where SageMaker would, and the emulator serves it for real (dtrain.emulator.hosting).
INFERENCE_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311-ubuntu20.04-sagemaker"
)


def _trained(emu: Emulator, spec: dict[str, Any], delay: float = 0.0, archive: bytes = b"") -> str:
    """Start `spec`, put its job's model.tar.gz (`archive`, or one answering y = 2x, `delay` s
    a request) and complete the job."""
    from tests.emulator.hosting_models import model_archive

    arn = emu.start_execution(spec)
    (job,) = emu.jobs_of(arn, timeout=JOB_WAIT_S)
    desc = emu.client("sagemaker").describe_training_job(TrainingJobName=job)
    bucket, _, prefix = desc["OutputDataConfig"]["S3OutputPath"].removeprefix("s3://").partition("/")
    key = f"{prefix.rstrip('/')}/{job}/output/model.tar.gz".lstrip("/")
    emu.client("s3").put_object(Bucket=bucket, Key=key, Body=archive or model_archive(2, delay))
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return arn


def _deploy_spec(endpoint: str) -> dict[str, Any]:
    deploy = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "endpoint_name": endpoint,
        "image_uri": INFERENCE_IMAGE,
    }
    return {**SPEC, "deploy": deploy}


def train_then_deploy(emu: Emulator, work: Path) -> str:
    """Model (its Submit phase times out once after creating it: the retry adopts it by
    DescribeModel and its tag), endpoint config, endpoint -> its state-change event -> JobEvents
    -> Finalize; then InvokeEndpoint answers and the endpoint's log lines were written."""
    from dtrain.emulator.shims import Fault

    endpoint = f"dtrain-mutation-{uuid.uuid4().hex[:8]}"  # the platform prefixes others
    spec = _deploy_spec(endpoint)
    emu.inject_fault(
        Fault("SubmitJob", "Sandbox.Timedout", "Task timed out", when=lambda e: e.get("phase") == "model")
    )
    arn = _trained(emu, spec)
    try:
        noticed = _ended(emu, arn)
        if noticed:
            return noticed
        runtime = emu.client("sagemaker-runtime")
        body, content_type = '{"x": 3}', "application/json"
        reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type)
        answer = json.loads(reply["Body"].read())
        return "" if answer == {"y": 6} else f"endpoint {endpoint} answered {answer}"
    finally:  # as the caller (full access): one served model at a time
        with contextlib.suppress(ClientError):
            emu.client("sagemaker").delete_endpoint(EndpointName=endpoint)


def aborted_during_deploy(emu: Emulator, work: Path) -> str:
    """StopExecution while its endpoint is still Creating (a model that loads for 3 s): AbortJob
    describes the endpoint (DescribeEndpoint) and marks its row Stopping (SageMaker refuses
    DeleteEndpoint while Creating); once it leaves Creating, Reconcile deletes it (DeleteEndpoint)."""
    import io
    import tarfile

    from tests.emulator.hosting_models import INFERENCE

    slow = INFERENCE.replace("def model_fn(model_dir):\n", "def model_fn(model_dir):\n    time.sleep(3)\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"weights.json": '{"scale": 2}', "code/inference.py": slow}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    endpoint = f"dtrain-mutation-{uuid.uuid4().hex[:8]}"
    arn = _trained(emu, _deploy_spec(endpoint), archive=buf.getvalue())
    sm = emu.client("sagemaker")
    deadline = time.monotonic() + 60
    while not any(r.kind == "endpoint" for r in emu.ledger().find_by_execution(arn)):
        desc = emu.describe_execution(arn)
        if desc["status"] != "RUNNING" or time.monotonic() > deadline:
            return f"{desc['status']} before its endpoint: {desc.get('cause') or desc.get('error')}"
        time.sleep(0.02)
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="mutation run")
    noticed = _ended(emu, arn, "ABORTED")
    emu.drain_events()
    status = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status = sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        except ClientError:
            status = ""
        if status != "Creating":
            break
        time.sleep(0.1)
    if status and status != "Deleting":
        emu.reconcile()
        emu.drain_events()
        try:
            status = sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        except ClientError:
            status = ""
    if status == "Deleting":
        status = ""
    if status:
        with contextlib.suppress(ClientError):
            sm.delete_endpoint(EndpointName=endpoint)
    return noticed or (f"AbortJob and Reconcile left endpoint {endpoint} {status}" if status else "")


def deploy_over_a_failed_endpoint(emu: Emulator, work: Path) -> str:
    """Deploy to the name of a Failed endpoint: Submit deletes it (DeleteEndpoint, the only call
    SageMaker accepts on a Failed endpoint) and creates it again (tests/e2e/fault_rows.py)."""
    from tests.e2e.fault_rows import row_update_of_a_failed_endpoint

    row = row_update_of_a_failed_endpoint(emu)
    if row.statuses != ["SUCCEEDED"] or row.left_running:
        return f"{row.statuses} left {row.left_running}: {row.detail.get('cause')}"
    return ""


def _transform_spec(data: str, **extra: Any) -> dict[str, Any]:
    return {
        **SPEC,
        "transform": {
            "instance_type": "ml.m5.large",
            "instance_count": 1,
            "image_uri": INFERENCE_IMAGE,
            "data": data,
            "content_type": "application/json",
            "split_type": "Line",
            "strategy": "MultiRecord",
            "assemble_with": "Line",
            **extra,
        },
    }


def _transform_inputs(emu: Emulator, prefix: str, count: int) -> str:
    body = "".join(json.dumps({"x": i}) + "\n" for i in range(count))
    emu.client("s3").put_object(Bucket=STANDIN_DATA_BUCKET, Key=f"{prefix}/part-0.jsonl", Body=body.encode())
    return f"s3://{STANDIN_DATA_BUCKET}/{prefix}/"


def train_then_transform(emu: Emulator, work: Path) -> str:
    """Model, CreateTransformJob -> its state-change event -> JobEvents -> Finalize; the
    transform job (as the execution role) wrote its .out file."""
    arn = _trained(emu, _transform_spec(_transform_inputs(emu, "mutation-transform-in", 3)))
    noticed = _ended(emu, arn)
    if noticed:
        return noticed
    desc = emu.describe_execution(arn)
    output = json.loads(desc["output"])["transform"]["output_path"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    body = emu.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/part-0.jsonl.out")["Body"].read()
    answers = [json.loads(line)["y"] for line in body.decode().splitlines()]
    return "" if answers == [0, 2, 4] else f"transform wrote {answers}"


def _aborted_during_transform(emu: Emulator, lose_event: bool) -> str:
    spec = _transform_spec(_transform_inputs(emu, "mutation-transform-slow", 400), strategy="SingleRecord")
    arn = _trained(emu, spec, delay=0.1)
    deadline = time.monotonic() + 60
    name = ""
    while time.monotonic() < deadline:
        running = [r.job_name for r in emu.ledger().find_by_execution(arn) if r.kind == "transform"]
        run = emu.hosting.transforms.get(running[0]) if running else None
        if run is not None and run.records > 0:
            name = running[0]
            break
        desc = emu.describe_execution(arn)
        if desc["status"] != "RUNNING":
            return f"{desc['status']} before its transform job ran: {desc.get('cause') or desc.get('error')}"
        time.sleep(0.05)
    if not name:
        return "the transform job did not start within 60 s"
    emu.reconcile()  # DescribeTransformJob of the open row (still running: nothing answered)
    if lose_event:
        emu.behaviour.lose_execution_events(1)
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="mutation run")
    noticed = _ended(emu, arn, "ABORTED")
    if lose_event:
        emu.reconcile()
    emu.drain_events()
    status = emu.hosting.wait_transform(name, timeout=60)
    by = "Reconcile" if lose_event else "AbortJob"
    return noticed or ("" if status == "Stopped" else f"{by} left transform job {name} {status}")


def aborted_during_transform(emu: Emulator, work: Path) -> str:
    """StopExecution while the transform job runs: AbortJob stops it (StopTransformJob)."""
    return _aborted_during_transform(emu, lose_event=False)


def lost_abort_during_transform_reconciled(emu: Emulator, work: Path) -> str:
    """The same with the execution-end event lost: Reconcile stops the transform job."""
    return _aborted_during_transform(emu, lose_event=True)


SCIENTIST = "arn:aws:iam::123456789012:user/scientist"


def scientist_runs_the_cli(emu: Emulator, work: Path) -> str:
    """A principal holding only the stack's submitter policy: submit (uploading local code),
    status, list, logs, stop (stacks/submitter_policy.py)."""
    import contextlib
    import io

    from dtrain.cli import main
    from dtrain.emulator.authz.authorizer import Principal
    from dtrain.emulator.authz.hook import acting_as

    iam = emu.client("iam")
    policies = [
        p for p in iam.list_policies(Scope="Local")["Policies"] if "SubmitterPolicy" in p["PolicyName"]
    ]
    if len(policies) != 1:
        return f"{len(policies)} submitter policies deployed"
    version = iam.get_policy_version(PolicyArn=policies[0]["Arn"], VersionId=policies[0]["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    text = document if isinstance(document, str) else json.dumps(document)
    code_dir = work / "scientist-code"
    code_dir.mkdir(exist_ok=True)
    (code_dir / "train.py").write_text("print('train')\n")
    name = f"scientist-{uuid.uuid4().hex[:8]}"
    estimator = {**SPEC["estimator"], "entry_point": "train.py", "source_dir": str(code_dir)}
    spec = work / f"{name}.json"
    spec.write_text(json.dumps({**SPEC, "job_name": name, "estimator": estimator}))

    def cli(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*argv, "--json"])
        return code, out.getvalue() + err.getvalue()

    with acting_as(Principal(SCIENTIST, policies=(("DtrainSubmitter", text),))):
        code, said = cli("submit", str(spec))
        if code != 0:
            return f"dtrain submit: {said.strip()[:300]}"
        submitted = json.loads(said)
        (job,) = emu.jobs_of(submitted["execution_arn"], timeout=JOB_WAIT_S)
        logs = emu.client("logs")  # a log line SageMaker would have written (as the emulator)
        with acting_as(None):
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
            logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=f"{job}/algo-1")
            logs.put_log_events(
                logGroupName="/aws/sagemaker/TrainingJobs",
                logStreamName=f"{job}/algo-1",
                logEvents=[{"timestamp": int(time.time() * 1000), "message": "epoch 1"}],
            )
        for argv in (("status", name), ("list",), ("logs", job), ("stop", job)):
            code, said = cli(*argv)
            if code != 0:
                return f"dtrain {argv[0]}: {said.strip()[:300]}"
        # The status of an execution that ran a transform job (DescribeTransformJob, issue 26
        # finding 10), run by the platform here: the scientist only reads it.
        with acting_as(None):
            hosted = _trained(emu, _transform_spec(_transform_inputs(emu, "mutation-scientist-in", 2)))
            noticed = _ended(emu, hosted)
        if noticed:
            return f"the transform execution: {noticed}"
        code, said = cli("status", hosted)
        if code != 0:
            return f"dtrain status of a transform execution: {said.strip()[:300]}"
        if '"Completed"' not in said:
            return f"dtrain status of a transform execution: {said.strip()[:300]}"
        return _scientist_reads_models_and_invokes(emu, job)
    return ""


def _scientist_reads_models_and_invokes(emu: Emulator, job: str) -> str:
    """Issue 29 finding 7: the trained model downloads and the platform's endpoint answers
    InvokeEndpoint past IAM (an absent endpoint: SageMaker's own error, not AccessDenied)."""
    from dtrain.emulator.authz.hook import acting_as

    bucket, key = emu.output("ArtifactsBucketName"), f"jobs/{job}/output/model.tar.gz"
    with acting_as(None):  # what SageMaker writes at the end of training
        emu.client("s3").put_object(Bucket=bucket, Key=key, Body=b"weights")
    try:
        emu.client("s3").get_object(Bucket=bucket, Key=key)
        emu.client("sagemaker-runtime").invoke_endpoint(EndpointName=f"{job}-absent", Body=b"[]")
    except ClientError as err:
        if "AccessDenied" in err.response["Error"]["Code"]:
            return f"the scientist was refused: {err}"[:300]
    return ""


SCENARIOS: tuple[Any, ...] = (
    chain,
    submit_retry_adopts,
    lost_event_reconciled,
    aborted_execution_stops_its_job,
    lost_abort_event_reconciled,
    sweep,
    processing_then_training,
    lost_processing_event_reconciled,
    aborted_during_processing,
    lost_abort_during_processing_reconciled,
    train_then_deploy,
    aborted_during_deploy,
    deploy_over_a_failed_endpoint,
    train_then_transform,
    aborted_during_transform,
    lost_abort_during_transform_reconciled,
    scientist_runs_the_cli,
)


def _upload_sample(emu: Emulator, work: Path) -> None:
    import subprocess

    data = work / "cifar"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "training_code/data/prepare_cifar10.py"),
                "synth",
                str(data),
                "--train",
                "64",
                "--test",
                "16",
            ],
            check=True,
            capture_output=True,
        )
    s3 = emu.client("s3")
    for f in data.iterdir():
        s3.upload_file(str(f), STANDIN_DATA_BUCKET, f"cifar10/{f.name}")


def scenarios_for(ref: StatementRef) -> tuple[Any, ...]:
    """Only the scientist uses the submitter policy; the platform's roles never do."""
    if "SubmitterPolicy" in ref.logical_id:
        return (scientist_runs_the_cli,)
    return tuple(s for s in SCENARIOS if s is not scientist_runs_the_cli)


# The execution role's statements for hosting (stacks/hosting_permissions.py, by Sid): the
# emulator's endpoints and transform jobs act with them, so they get the live scenarios.
HOSTING_SIDS = ("PullInferenceImages:", "InferenceImageRegistryLogin:", "HostingLogs:")


def trains(ref: StatementRef) -> bool:
    """The execution role acts in a job that runs: its statements get the training run (its
    hosting statements the live deploy and transform scenarios instead)."""
    return "ExecutionRole" in ref.logical_id and not ref.summary.startswith(HOSTING_SIDS)


def classify(ref: StatementRef, training: bool) -> str:
    if trains(ref) and not training:
        return "the execution role acts only in a job that runs: rerun without --no-training"
    for needle, reason in REAL_AWS_ONLY.items():
        if needle in ref.summary:
            return reason
    for needle, reason in REAL_AWS_ONLY_RESOURCES.items():
        if needle in ref.logical_id:
            return reason
    for role, reasons in NOT_REACHED.items():
        for needle, reason in reasons.items():
            if role in ref.logical_id and ref.summary.removeprefix("Allow ") == needle:
                return f"not reached: {reason}"
    return ""


def verdict_row(ref: StatementRef, noticed: str, training: bool) -> tuple[str, str, str]:
    reason = classify(ref, training)
    verdict = (
        "caught" if noticed else ("not exercised" if "--no-training" in reason else "kept: real AWS only")
    )
    if not noticed and reason.startswith("not reached"):
        verdict = "kept: not reached"
    verdict = verdict if noticed or reason else "NOT CAUGHT"
    return (ref.label, verdict, noticed[:140] if noticed else reason)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="statements whose label contains this text (repeatable: any of them)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        help="run only these SCENARIOS (repeatable), e.g. for the statements only they exercise",
    )
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--no-training", action="store_true", help="skip the execution role's training runs")
    args = parser.parse_args()
    training = not args.no_training
    if args.scenario:
        global SCENARIOS
        unknown = set(args.scenario) - {s.__name__ for s in SCENARIOS}
        if unknown:
            raise SystemExit(f"--scenario: no scenario {sorted(unknown)}")
        SCENARIOS = tuple(s for s in SCENARIOS if s.__name__ in args.scenario)
    work = Path(tempfile.mkdtemp(prefix="policy-mutation-"))
    assembly = synth_standin_app(work / "cdk.out")
    templates = {s: json.loads((assembly / f"{s}.template.json").read_text()) for s in STACKS}
    refs = [
        r
        for s in STACKS
        for r in statements(s, templates[s])
        if not args.only or any(text in r.label for text in args.only)
    ]
    if args.limit:
        refs = refs[: args.limit]
    rows: list[tuple[str, str, str]] = []
    started = time.perf_counter()

    def report(ref: StatementRef, noticed: str) -> None:
        rows.append(verdict_row(ref, noticed, training))
        print(f"{rows[-1][1]:22s} {ref.label[:110]}\n{'':22s} {rows[-1][2]}", flush=True)

    redeployed: list[StatementRef] = []
    # One emulator for every statement that can be taken out through the API (moto's backends
    # are per process: the redeployed ones run after it closes).
    with Emulator(assembly, announce=False) as live:
        failing = run_scenarios(live, work, SCENARIOS)
        if failing:
            raise SystemExit(f"the unmutated platform does not pass live: {failing}")
        for ref in refs:
            mutated = without(templates[ref.stack], ref)
            was = templates[ref.stack]["Resources"][ref.logical_id].get("Properties", {})
            now = mutated["Resources"].get(ref.logical_id, {}).get("Properties")
            try:
                pushed = not (training and trains(ref)) and push_policy(
                    live, ref.stack, ref.logical_id, ref.resource_type, now, was
                )
            except ClientError:  # a document the API refuses (a trust policy left empty)
                pushed = False
            if not pushed:
                redeployed.append(ref)
                continue
            try:
                noticed = run_scenarios(live, work, scenarios_for(ref))
            finally:
                push_policy(live, ref.stack, ref.logical_id, ref.resource_type, was, was)
                with contextlib.suppress(Exception):  # close what the mutation left open
                    live.reconcile()
                    live.drain_events()
            report(ref, noticed)
    for with_training in sorted({training and trains(r) for r in redeployed}):
        baseline = run_chain(assembly, with_training, work, SCENARIOS[:1])
        if baseline:
            raise SystemExit(f"the unmutated platform does not pass (training={with_training}): {baseline}")
    for i, ref in enumerate(redeployed):
        mutated = without(templates[ref.stack], ref)
        path = assembly_with(assembly, work / f"m{i}" / "cdk.out", {f"{ref.stack}.template.json": mutated})
        report(ref, run_chain(path, training and trains(ref), work, scenarios_for(ref)))
    caught = sum(1 for r in rows if r[1] == "caught")
    kept = sum(1 for r in rows if r[1] == "kept: real AWS only")
    not_reached = sum(1 for r in rows if r[1] == "kept: not reached")
    unexercised = sum(1 for r in rows if r[1] == "not exercised")
    print(
        f"\nstatements {len(rows)}, caught {caught}, kept with a real-AWS-only reason {kept}, "
        f"kept on a path no scenario reaches {not_reached}, not exercised (--no-training) {unexercised}, "
        f"not caught {len(rows) - caught - kept - not_reached - unexercised} "
        f"({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
