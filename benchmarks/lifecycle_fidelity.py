"""Lifecycle fidelity: per SageMaker resource, the states and refused operations the emulator
models, each with its AWS source, each row checked against the emulator.

For every row of dtrain.emulator.lifecycle.rules.REFUSALS and every state it names, the script
puts a resource in that state on the emulator (moto + the emulator's shims), makes the call
through boto3, and compares SageMaker's answer (code and message) with the row. It prints a
Markdown table (resource, states modelled, operation, refused in, answer, checked, source) and
exits 1 if any row's answer differed.

Run: .venv/bin/python benchmarks/lifecycle_fidelity.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dtrain.emulator.lifecycle import rules
from dtrain.emulator.lifecycle.gate import arn_of
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.emulator.shims import LambdaRuntime, Shims, installed, new_workdir

REGION, ACCOUNT = "us-east-1", "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
STATES_MODELLED = {
    rules.TRAINING_JOB: ", ".join(rules.JOB_STATES)
    + " (secondary: Starting, Training, Uploading, Stopping, ...)",
    rules.PROCESSING_JOB: ", ".join(rules.JOB_STATES),
    rules.TRANSFORM_JOB: ", ".join(rules.JOB_STATES),
    rules.MODEL: "none (created synchronously)",
    rules.ENDPOINT_CONFIG: "none (created synchronously)",
    rules.ENDPOINT: ", ".join(rules.ENDPOINT_STATES),
    rules.EXPERIMENT: "none (created synchronously; a job's ExperimentConfig must name one that exists)",
    rules.TRIAL: "none (created synchronously in an existing experiment)",
}
_STATUS_ATTR = {
    rules.TRAINING_JOB: "training_job_status",
    rules.PROCESSING_JOB: "processing_job_status",
    rules.TRANSFORM_JOB: "transform_job_status",
    rules.ENDPOINT: "endpoint_status",
}


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))


def backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


def _training(name: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def _processing(name: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "AppSpecification": {"ImageUri": "img"},
        "RoleArn": ROLE,
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
    }


def _transform(name: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "m",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
        "TransformOutput": {"S3OutputPath": "s3://b/out"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    }


def _variants(model: str) -> list[dict[str, Any]]:
    return [
        {
            "VariantName": "AllTraffic",
            "ModelName": model,
            "InstanceType": "ml.m5.xlarge",
            "InitialInstanceCount": 1,
        }
    ]


# operation -> (create the resource named `name`, call the operation on `name`)
CALLS: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {}


def _job(create: Callable[[str], Any], api: str, stop: str, key: str) -> None:
    CALLS[f"Create{api}"] = (create, create)
    CALLS[stop] = (create, lambda n: getattr(sm(), _snake(stop))(**{key: n}))


def _snake(op: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in op).lstrip("_")


_job(lambda n: sm().create_training_job(**_training(n)), "TrainingJob", "StopTrainingJob", "TrainingJobName")
_job(
    lambda n: sm().create_processing_job(**_processing(n)),
    "ProcessingJob",
    "StopProcessingJob",
    "ProcessingJobName",
)
_job(
    lambda n: sm().create_transform_job(**_transform(n)),
    "TransformJob",
    "StopTransformJob",
    "TransformJobName",
)
_model = (lambda n: sm().create_model(ModelName=n, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"}),)
CALLS["CreateModel"] = (_model[0], _model[0])
CALLS["DeleteModel"] = (_model[0], lambda n: sm().delete_model(ModelName=n))
_config = (lambda n: sm().create_endpoint_config(EndpointConfigName=n, ProductionVariants=_variants("m")),)
CALLS["CreateEndpointConfig"] = (_config[0], _config[0])
CALLS["DeleteEndpointConfig"] = (_config[0], lambda n: sm().delete_endpoint_config(EndpointConfigName=n))
_endpoint = (lambda n: sm().create_endpoint(EndpointName=n, EndpointConfigName="c"),)
CALLS["CreateEndpoint"] = (_endpoint[0], _endpoint[0])
CALLS["DeleteEndpoint"] = (_endpoint[0], lambda n: sm().delete_endpoint(EndpointName=n))
CALLS["UpdateEndpoint"] = (
    _endpoint[0],
    lambda n: sm().update_endpoint(EndpointName=n, EndpointConfigName="c"),
)
_experiment = (lambda n: sm().create_experiment(ExperimentName=n),)
CALLS["CreateExperiment"] = (_experiment[0], _experiment[0])
_trial = (lambda n: sm().create_trial(TrialName=n, ExperimentName="e"),)
CALLS["CreateTrial"] = (_trial[0], _trial[0])
for _op, (_resource, _key) in rules.OPERATIONS.items():
    if _op.startswith("Describe"):
        CALLS[_op] = (_model[0], lambda n, op=_op, key=_key: getattr(sm(), _snake(op))(**{key: n}))


def check_row(row: rules.Refusal, index: int) -> list[str]:
    """Problems found for this row (empty: every state answered as the row says)."""
    problems = []
    create, call = CALLS[row.operation]
    for n, state in enumerate(sorted(row.states)):
        name = f"r{index}-{n}"
        if state != rules.MISSING:
            create(name)
            if state != rules.EXISTS:
                setattr(_store(row.resource)[name], _STATUS_ATTR[row.resource], state)
        expected = row.text(name=name, arn=arn_of(backend(), row.resource, name), status=state)
        try:
            call(name)
            problems.append(f"{state}: accepted")
        except ClientError as err:
            got = (err.response["Error"]["Code"], err.response["Error"]["Message"])
            if got != (row.code, expected):
                problems.append(f"{state}: {got}")
    return problems


def _store(resource: str) -> Any:
    b = backend()
    return {
        rules.TRAINING_JOB: b.training_jobs,
        rules.PROCESSING_JOB: b.processing_jobs,
        rules.TRANSFORM_JOB: b.transform_jobs,
        rules.ENDPOINT: b.endpoints,
    }[resource]


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION=REGION)
    shims = Shims(runtime=LambdaRuntime(workdir=new_workdir()), sagemaker_backend=EventPlaybackBackend())
    failed = 0
    print("| resource | states modelled | operation | refused in | answer | checked | source |")
    print("|---|---|---|---|---|---|---|")
    with mock_aws(), installed(shims):
        CALLS["CreateModel"][0]("m")
        CALLS["CreateEndpointConfig"][0]("c")
        CALLS["CreateExperiment"][0]("e")
        for index, row in enumerate(rules.REFUSALS):
            problems = check_row(row, index)
            failed += bool(problems)
            checked = "yes" if not problems else "NO: " + "; ".join(problems)
            print(
                f"| {row.resource} | {STATES_MODELLED[row.resource]} | {row.operation} | "
                f"{', '.join(sorted(row.states))} | {row.code}: `{row.message}` | {checked} | {row.source} |"
            )
    print(
        f"\n{len(rules.REFUSALS) - failed} of {len(rules.REFUSALS)} rows answered as AWS answers",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
