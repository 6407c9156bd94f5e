"""What the synthesized OrchestrationStack template must keep: IAM scoping, event patterns,
logging and tracing, and an ASL definition that asl-validator accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from dtrain.constructs.orchestration.lambda_bundling import LAMBDA_TASK_ROOT

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template_json(standin_assembly: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((standin_assembly / "DtrainOrchestration.template.json").read_text())
    return data


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def _statements(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for res in template_json["Resources"].values():
        if res["Type"] == "AWS::IAM::Policy":
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_sagemaker_calls_are_scoped_to_the_job_name_prefix(template_json: dict[str, Any]) -> None:
    sagemaker = [
        s for s in _statements(template_json) if any(a.startswith("sagemaker:") for a in _actions(s))
    ]
    actions = {a for s in sagemaker for a in _actions(s)}
    assert {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
    } <= actions
    # The one exception, and only as create: the experiment and trial a spec's experiment_config
    # names are the scientist's names, not on the prefix (Submit creates them before the job).
    on_every_name = {
        "sagemaker:CreateExperiment": "experiment/*",
        "sagemaker:CreateTrial": "experiment-trial/*",
    }
    for statement in sagemaker:
        resource = json.dumps(statement["Resource"])
        named = _actions(statement)
        if len(named) == 1 and named[0] in on_every_name:
            assert resource.endswith(f':{on_every_name[named[0]]}"]]}}'), statement
            continue
        # Processing jobs (the processing step) and what follows training (model, endpoint
        # config, endpoint, transform job): the same prefix.
        scoped = ("training-job", "processing-job", "model", "endpoint-config", "endpoint", "transform-job")
        assert any(f"{kind}/dtrain-*" in resource for kind in scoped), statement
        assert "sagemaker:*" not in json.dumps(statement["Action"]), statement
    processing = [s for s in sagemaker if "processing-job/dtrain-*" in json.dumps(s["Resource"])]
    assert {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
    } <= {a for s in processing for a in _actions(s)}


def test_pass_role_is_limited_to_the_execution_role_for_sagemaker(template_json: dict[str, Any]) -> None:
    (pass_role,) = [s for s in _statements(template_json) if "iam:PassRole" in _actions(s)]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "ExecutionRole" in json.dumps(pass_role["Resource"]) and "*" not in json.dumps(
        pass_role["Resource"]
    )


def test_job_state_change_rule_matches_terminal_statuses_of_our_jobs(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Training Job State Change"],
                "detail": {
                    "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                    "TrainingJobName": [{"prefix": "dtrain-"}],
                },
            }
        },
    )


def test_processing_job_state_change_rule_matches_terminal_statuses_of_our_jobs(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Processing Job State Change"],
                "detail": {
                    "ProcessingJobStatus": ["Completed", "Failed", "Stopped"],
                    "ProcessingJobName": [{"prefix": "dtrain-"}],
                },
            }
        },
    )


def test_abort_rule_matches_every_way_an_execution_ends(template: Template) -> None:
    """Issue 19 item 2: FAILED (a job created before Submit errored) and SUCCEEDED (a sweep
    item whose Submit failed after creating its job) end executions too."""
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": Match.object_like({"status": ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]}),
                }
            )
        },
    )
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"})


def test_state_machine_logs_everything_encrypted_and_traces(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value()})
    # Vended-logs prefix (the CloudWatch Logs resource policy stays small).
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": Match.string_like_regexp(r"^/aws/vendedlogs/states/"),
            "KmsKeyId": Match.any_value(),
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}},
    )


def _definition(template_json: dict[str, Any]) -> dict[str, Any]:
    (sm,) = [
        r for r in template_json["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = sm["Properties"]["DefinitionString"]["Fn::Join"][1]
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}

    def resolve(part: Any) -> str:
        # Tokens become plausible values; the definition's structure is what is checked.
        if isinstance(part, str):
            return part
        ref = part.get("Ref")
        if ref in pseudo:
            return pseudo[ref]
        if ref:  # Ref of an SNS topic is its ARN
            return "arn:aws:sns:us-east-1:123456789012:topic"
        return "arn:aws:lambda:us-east-1:123456789012:function:fn"

    text = "".join(resolve(p) for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_definition_submits_with_a_callback_and_a_derived_timeout(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    submit = states["Submit"]
    assert submit["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert submit["TimeoutSecondsPath"] == "$.plan.timeout_seconds"
    payload = submit["Parameters"]["Payload"]
    assert payload["retry_count.$"] == "$$.State.RetryCount"
    # Issue 19 item 4: the start time tells apart executions of a name reused after 90 days.
    assert payload["execution_start.$"] == "$$.Execution.StartTime"
    # Issue 26: a failed execution's redrive restarts at its Fail state, but an aborted or
    # timed-out one's reruns the Submit that was cut off, which must then create a new job.
    assert payload["redrive_count.$"] == "$$.Execution.RedriveCount"
    throttled = next(r for r in submit["Retry"] if r["ErrorEquals"] == ["CreateThrottled"])
    assert throttled["JitterStrategy"] == "FULL"
    # Issue 19 item 3: SageMaker's transient errors and Lambda.Unknown are retried on both Submits.
    for name in ("Submit", "SubmitItem"):
        task = states[name] if name in states else states["Sweep"]["ItemProcessor"]["States"][name]
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert {"SageMakerTransient", "Lambda.Unknown", "CreateThrottled"} <= retried, name
    # Spec errors are never retried.
    assert all("SpecError" not in r["ErrorEquals"] for s in states.values() for r in s.get("Retry", []))


def test_capacity_endpoint_and_notification_waits_are_retried(template_json: dict[str, Any]) -> None:
    """Issue 26: ResourceLimitExceeded waits for capacity on every step that creates a job
    (finding 5), Deploy waits out an endpoint SageMaker will not update (finding 2), and a
    throttled SNS/KMS call does not fail a run that succeeded (finding 9)."""
    states = _definition(template_json)["States"]
    item = states["Sweep"]["ItemProcessor"]["States"]["SubmitItem"]

    def retried(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {e: r for r in task.get("Retry", []) for e in r["ErrorEquals"]}

    for name, task in (("Submit", states["Submit"]), ("SubmitItem", item), ("Process", states["Process"])):
        capacity = retried(task).get("CapacityWait")
        assert capacity is not None, name
        assert capacity["MaxDelaySeconds"] <= 300 and capacity["JitterStrategy"] == "FULL", name
    assert "CapacityWait" in retried(states["Transform"])
    busy = retried(states["Deploy"])["EndpointBusy"]
    assert busy["MaxAttempts"] >= 10 and busy["MaxDelaySeconds"] >= busy["IntervalSeconds"]
    for name in ("Notify", "NotifyFailure"):
        assert {"SNS.ThrottledException", "SNS.KMSThrottlingException"} <= set(retried(states[name])), name
    # The hosting phases now raise the errors their Retry names (finding 4).
    for name in ("CreateModel", "Deploy", "Transform"):
        assert "SageMakerTransient" in retried(states[name]), name


def test_the_abort_lambda_has_time_to_stop_a_whole_sweep(template_json: dict[str, Any]) -> None:
    """Issue 26, risks: the abort Lambda had 30 s to stop every job of a 40-wide sweep."""
    (abort,) = [
        r
        for k, r in template_json["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith("AbortJob")
    ]
    assert abort["Properties"]["Timeout"] >= 120


@pytest.mark.slow
def test_extracted_asl_passes_asl_validator(template_json: dict[str, Any], tmp_path: Path) -> None:
    if shutil.which("npx") is None:
        pytest.fail("npx is required (make test installs node_modules)")
    path = tmp_path / "definition.asl.json"
    path.write_text(json.dumps(_definition(template_json)))
    out = subprocess.run(
        ["npx", "--no-install", "asl-validator", "--json-path", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_each_lambda_bundle_imports_its_handler_and_its_own_dtrain_copy(
    standin_assembly: Path, template_json: dict[str, Any]
) -> None:
    import sys

    functions = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 5
    for res in functions:
        bundle = standin_assembly / f"asset.{str(res['Properties']['Code']['S3Key']).removesuffix('.zip')}"
        # Submit imports these lazily: they must be in its bundle too. (Each bundle holds its own
        # handler's import closure only: tests/stacks/test_lambda_bundle.py.)
        is_submit = (bundle / "handler.py").read_bytes() == (
            REPO / "lambda/submit_job/handler.py"
        ).read_bytes()
        lazy = (
            "import dtrain.requests.training_request, dtrain.jobspec.spec; "
            "import dtrain.jobspec.naming, dtrain.jobspec.platform; "
        )
        code = (
            "import sys; sys.path.insert(0, '.'); import handler, dtrain; "
            f"{lazy if is_submit else ''}"
            "print(handler.__file__, dtrain.__file__)"
        )
        # As in Lambda: LAMBDA_TASK_ROOT set makes the X-Ray SDK sample locally; outside Lambda it
        # builds an `xray` client, whose service model the trimmed botocore leaves out.
        env = {**os.environ, "LAMBDA_TASK_ROOT": LAMBDA_TASK_ROOT}
        out = subprocess.run(
            [sys.executable, "-E", "-s", "-c", code], cwd=bundle, capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
        handler_file, dtrain_file = out.stdout.split()
        assert Path(handler_file).resolve().parent == bundle.resolve()
        assert Path(dtrain_file).resolve().is_relative_to(bundle.resolve())
        # What the Lambdas never need stays out of the zip.
        assert not (bundle / "dtrain" / "local").exists() and not (bundle / "dtrain" / "emulator").exists()


def _dashboard_searches(template_json: dict[str, Any]) -> list[str]:
    (dashboard,) = [
        r for r in template_json["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    widgets = json.loads(text)["widgets"]
    return [
        m["expression"]
        for w in widgets
        for m in (w["properties"].get("metrics") or [])
        for m in m
        if isinstance(m, dict) and "expression" in m
    ]


def _search_matches(expression: str, namespace: str, dimensions: dict[str, str], metric: str) -> bool:
    """CloudWatch's SEARCH rules on one published series: schema namespace and dimension
    names must fit; a quoted term equals a whole value, an unquoted term equals a token."""
    import re

    m = re.fullmatch(r"SEARCH\('\{(\"[^\"]+\"|[^,]+),([^}]+)\} (.*)', '\w+', \d+\)", expression)
    assert m, expression
    schema_ns, schema_dims, terms = m.group(1).strip('"'), m.group(2).split(","), m.group(3)
    if schema_ns != namespace or set(schema_dims) != set(dimensions):
        return False
    values = [metric, *dimensions.values()]
    tokens = {t for v in values for t in re.split(r"[^A-Za-z0-9]+", v) if t}
    for _designator, quoted, bare in re.findall(r'(?:(\w+)=)?"([^"]*)"|(\S+)', terms):
        if quoted and quoted not in values:
            return False
        if bare and bare not in tokens:
            return False
    return True


def test_dashboard_searches_match_what_sagemaker_publishes(template_json: dict[str, Any]) -> None:
    """Issue 19 item 5. Documented series (monitoring-cloudwatch.html, training-metrics.html):
    instance metrics in /aws/sagemaker/TrainingJobs by Host=<job>/algo-<n>; metric-definition
    metrics in /aws/sagemaker/TrainingJobs by TrainingJobName=<job>."""
    job = "dtrain-cifar10-ddp-0123456789"
    published = {
        "GPUUtilization": {"Host": f"{job}/algo-1"},
        "train:loss": {"TrainingJobName": job},
        "validation:accuracy": {"TrainingJobName": job},
        "train:throughput": {"TrainingJobName": job},
    }
    searches = _dashboard_searches(template_json)
    assert len(searches) == len(published)
    for metric, dimensions in published.items():
        hits = [s for s in searches if _search_matches(s, "/aws/sagemaker/TrainingJobs", dimensions, metric)]
        assert len(hits) == 1, (metric, searches)
        # Another platform's job (another prefix) is not picked up.
        other = {k: v.replace("dtrain-", "other-") for k, v in dimensions.items()}
        assert not _search_matches(hits[0], "/aws/sagemaker/TrainingJobs", other, metric)


def test_submit_environment_stays_within_lambdas_4kb_and_too_many_tags_are_refused(
    template_json: dict[str, Any],
) -> None:
    """DTRAIN_PLATFORM grows with configured tags toward Lambda's 4 KB environment limit."""
    from dtrain.constructs.orchestration.lambda_environment import (
        LAMBDA_ENVIRONMENT_LIMIT_BYTES,
        TOKEN_BUDGET_BYTES,
        check_environment,
    )

    (submit,) = [
        r
        for k, r in template_json["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith("SubmitJob")
    ]
    variables = submit["Properties"]["Environment"]["Variables"]

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value.encode())
        if isinstance(value, dict) and "Fn::Join" in value:
            return sum(size(p) for p in value["Fn::Join"][1])
        return TOKEN_BUDGET_BYTES  # a Ref / GetAtt resolves to a name or an ARN

    deployed = sum(len(k) + size(v) for k, v in variables.items())
    assert deployed < LAMBDA_ENVIRONMENT_LIMIT_BYTES
    platform = {"tags": {f"team-tag-{i}": "v" * 64 for i in range(49)}, "role_arn": "${Token[TOKEN.1]}"}
    with pytest.raises(ValueError, match=r"tags/environment: the SubmitJob Lambda's environment"):
        check_environment("SubmitJob", {"DTRAIN_PLATFORM": json.dumps(platform)})
