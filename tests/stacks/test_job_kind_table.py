"""One job-kind table (dtrain.orchestration.job_kinds) drives the orchestration's event rules and
the job IAM statements; and the Orchestration construct is usable in a team's own stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from dtrain.constructs.orchestration.construct import Orchestration
from dtrain.constructs.orchestration.permissions import CALLERS
from dtrain.constructs.orchestration.props import OrchestrationOptions, OrchestrationProps
from dtrain.constructs.orchestration_stack import OrchestrationStack
from dtrain.orchestration.job_kinds import CALLS, KINDS, SAGEMAKER_RESOURCES, TERMINAL_STATUSES, iam_action

if TYPE_CHECKING:
    from dtrain.constructs.synthesis import SynthesizedApp


@pytest.fixture(scope="module")
def stack(synthesized_app: SynthesizedApp) -> OrchestrationStack:
    (found,) = [s for s in synthesized_app.app.node.children if isinstance(s, OrchestrationStack)]
    return found


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_every_job_kind_has_its_rule_to_the_job_events_lambda(
    synthesized_app: SynthesizedApp, stack: OrchestrationStack
) -> None:
    template = synthesized_app.template_dicts["orchestration"]
    rules = {
        r["Properties"]["EventPattern"]["detail-type"][0]: r["Properties"]
        for r in _resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.sagemaker"]
    }
    assert set(rules) == {kind.event_detail_type for kind in KINDS.values()}
    job_events = stack.get_logical_id(stack.job_events_fn.node.default_child)  # type: ignore[arg-type]
    prefix = stack.options.job_name_prefix
    for kind in KINDS.values():
        rule = rules[kind.event_detail_type]
        detail = rule["EventPattern"]["detail"]
        assert detail[kind.name_key] == [{"prefix": f"{prefix}-"}]
        # Jobs answer a wait when they end; an endpoint at every status change (InService, Failed).
        assert detail.get(kind.status_key) == (list(TERMINAL_STATUSES) if kind.terminal_statuses else None)
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [job_events, "Arn"]}


def _role_actions(template: dict[str, Any], stack: OrchestrationStack, fn: Any) -> set[str]:
    role = stack.get_logical_id(fn.role.node.default_child)
    actions: set[str] = set()
    for policy in _resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_each_lambda_may_make_exactly_the_sagemaker_calls_the_table_gives_it(
    synthesized_app: SynthesizedApp, stack: OrchestrationStack
) -> None:
    template = synthesized_app.template_dicts["orchestration"]
    assert set(CALLERS) == set(SAGEMAKER_RESOURCES)  # every resource of the table has its callers
    for part, fn in zip(stack.functions.PARTS, stack.functions.all, strict=True):
        actions = _role_actions(template, stack, fn)
        for name, callers in CALLERS.items():
            resource = SAGEMAKER_RESOURCES[name]
            for call in CALLS:
                method = resource.method(call)
                if method is not None:
                    assert (iam_action(method) in actions) == (part in callers.of(call)), (part, method)


def test_the_orchestration_construct_composes_into_a_teams_own_stack(tmp_path: Any) -> None:
    """As a platform team would: its own stack, its own key, buckets, role and network, any id."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "TeamPlatform", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    vpc = ec2.Vpc(
        stack,
        "TeamVpc",
        max_azs=1,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    props = OrchestrationProps(
        artifacts_bucket=s3.Bucket(stack, "TeamArtifacts", encryption_key=key),
        checkpoints_bucket=s3.Bucket(stack, "TeamCheckpoints", encryption_key=key),
        data_key=key,
        execution_role=iam.Role(
            stack, "TeamRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
        ),
        vpc=vpc,
        subnets=vpc.isolated_subnets,
        training_security_group=ec2.SecurityGroup(stack, "TeamSg", vpc=vpc),
        image_uris={"pytorch": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team:1"},
        options=OrchestrationOptions(job_name_prefix="team"),
    )
    orchestration = Orchestration(stack, "Training", props)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Lambda::Function", 5)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"detail": {"TrainingJobName": [{"prefix": "team-"}]}}},
    )
    assert orchestration.node.find_child("TaskTokenAnswers") is orchestration.task_token_answers
