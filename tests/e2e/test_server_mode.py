"""Server mode: the same emulator behind moto's HTTP server, reached by plain clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from dtrain.emulator import Emulator
from dtrain.ports import free_port


@pytest.mark.slow
def test_an_http_client_runs_an_execution_against_the_server(standin_assembly: Path, make_spec: Any) -> None:
    with Emulator(standin_assembly, server_port=free_port(), announce=False) as emu:
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=emu.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        arn = sfn.start_execution(
            stateMachineArn=emu.state_machine_arn, name="http-1", input=json.dumps(make_spec())
        )["executionArn"]
        (job,) = emu.jobs_of(arn)
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.8})
        assert emu.wait_execution(arn)["status"] == "SUCCEEDED"
        assert json.loads(sfn.describe_execution(executionArn=arn)["output"])["job_name"] == job
