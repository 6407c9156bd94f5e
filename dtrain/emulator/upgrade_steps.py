"""A platform team's upgrades of a deployed platform, as the changes they make to its template,
applied the way `cdk deploy` applies them (an UPDATE change set, then ExecuteChangeSet).

Shared by tests/e2e/test_upgrade_sequence.py and benchmarks/upgrade_sequence.py. Each step is
what a synth of the changed app produces for the orchestration stack, made on the deployed
template instead (a synth of the stand-in app costs 12-35 s on the project's 2-core machine, per
step); benchmarks/cdk_deploy_emulator.sh runs the real CDK CLI end to end. A change that
reshapes the template (a new team) is deployed from a new synth instead
(`deploy_assembly_update`, as `cdk deploy --all` deploys it).

    template = current_template(cfn, stack)
    seconds = deploy_update(cfn, stack, tag_every_resource(template, "cost-center", "ml-42"))
"""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from dtrain.emulator.authz.moto_state import load_skipped_policies
from dtrain.emulator.deploy import modelled_template, publish_assets, stack_order
from dtrain.emulator.shims import EmulatorError

# The types of the orchestration stack that take Tags, as cdk.Tags.of(stack).add tags them.
TAGGABLE = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::StepFunctions::StateMachine",
    }
)
CHANGE_SET = "cdk-deploy-change-set"


def current_template(cfn: Any, stack: str) -> dict[str, Any]:
    body = cfn.get_template(StackName=stack)["TemplateBody"]
    return dict(json.loads(body) if isinstance(body, str) else body)


def deploy_update(cfn: Any, stack: str, template: dict[str, Any]) -> float:
    """Seconds to update `stack` to `template` as `cdk deploy` does; an EmulatorError naming the
    stack's status and reason unless it ends UPDATE_COMPLETE."""
    start = time.perf_counter()
    cfn.delete_change_set(StackName=stack, ChangeSetName=CHANGE_SET)  # the last deploy's; none: no-op
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=CHANGE_SET,
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName=CHANGE_SET)
    (desc,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    if desc["StackStatus"] != "UPDATE_COMPLETE":
        raise EmulatorError(f"{stack}: {desc['StackStatus']}: {desc.get('StackStatusReason', '')}")
    return time.perf_counter() - start


def tag_every_resource(template: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """Tags.of(stack).add(key, value): the tag on every taggable resource."""
    out = copy.deepcopy(template)
    for resource in out["Resources"].values():
        if resource["Type"] in TAGGABLE:
            props = resource.setdefault("Properties", {})
            tags = [t for t in props.get("Tags", []) if t.get("Key") != key]
            props["Tags"] = sorted([*tags, {"Key": key, "Value": value}], key=lambda t: t["Key"])
    return out


def _submit_function(template: dict[str, Any]) -> dict[str, Any]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" and logical_id.startswith("SubmitJob"):
            return dict(resource)
    raise EmulatorError("the template has no SubmitJob function")


def set_job_tags(template: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """OrchestrationOptions(tags=...): the tags every job gets, in Submit's DTRAIN_PLATFORM."""
    out = copy.deepcopy(template)
    variables = _submit_function(out)["Properties"]["Environment"]["Variables"]
    setting = variables["DTRAIN_PLATFORM"]
    parts = setting["Fn::Join"][1] if isinstance(setting, dict) else [setting]
    encoded = f'"tags":{json.dumps(tags, separators=(",", ":"), sort_keys=True)}'
    replaced = [
        p.replace('"tags":{}', encoded) if isinstance(p, str) and '"tags":{}' in p else p for p in parts
    ]
    if replaced == parts:
        raise EmulatorError('SubmitJob\'s DTRAIN_PLATFORM holds no "tags":{} to set')
    if isinstance(setting, dict):
        setting["Fn::Join"][1] = replaced
    else:
        variables["DTRAIN_PLATFORM"] = replaced[0]
    return out


def submit_code_with_marker(assembly: Path, template: dict[str, Any], marker: str) -> bytes:
    """A new version of Submit's code: its deployment zip (the assembly's staged asset) with a
    handler that logs `marker` on every invocation before it does what it did."""
    function = _submit_function(template)
    key = str(function["Properties"]["Code"]["S3Key"])
    staged = assembly / f"asset.{key.removesuffix('.zip')}"
    module_name, _, attr = str(function["Properties"]["Handler"]).rpartition(".")
    # In Lambda a print is a log line; in the emulator a line goes to the invocation's sink
    # (dtrain.orchestration.log_delivery, which the asset carries).
    wrapper = (
        f"\n\n_before_upgrade = {attr}\n\n\n"
        f"def {attr}(event, context):\n"
        f"    from dtrain.orchestration.log_delivery import current_sink\n\n"
        f"    sink = current_sink()\n"
        f"    sink({marker + chr(10)!r}) if sink else print({marker!r})\n"
        f"    return _before_upgrade(event, context)\n"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in staged.rglob("*") if p.is_file()):
            name = path.relative_to(staged).as_posix()
            data = path.read_bytes()
            if name == f"{module_name.replace('.', '/')}.py":
                data += wrapper.encode()
            zf.writestr(name, data)
    return out.getvalue()


def with_submit_code(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with Submit's code at s3://bucket/key (where `cdk deploy` published it)."""
    out = copy.deepcopy(template)
    _submit_function(out)["Properties"]["Code"] = {"S3Bucket": bucket, "S3Key": key}
    return out


def deploy_assembly_update(session: Any, assembly: Path, *, account: str, region: str) -> dict[str, float]:
    """`cdk deploy --all` of a new synth of the deployed app: each stack's file assets published
    to the staging bucket, then the stack updated to its new template by an UPDATE change set, in
    dependency order (a base stack's new export before the stack importing it). Seconds per stack.

    The staging bucket is kept (as after `cdk bootstrap`): a later update of a Lambda may read
    its code again."""

    cfn = session.client("cloudformation", region_name=region)
    artifacts: dict[str, Any] = json.loads((assembly / "manifest.json").read_text())["artifacts"]
    seconds: dict[str, float] = {}
    for artifact_id in stack_order(artifacts):
        art = artifacts[artifact_id]
        start = time.perf_counter()
        for dep in art.get("dependencies", []):
            if artifacts.get(dep, {}).get("type") == "cdk:asset-manifest":
                publish_assets(session, assembly, artifacts[dep]["properties"]["file"], account, region)
        props = art["properties"]
        template, _ = modelled_template(json.loads((assembly / props["templateFile"]).read_text()))
        stack = props.get("stackName", artifact_id)
        deploy_update(cfn, stack, template)
        load_skipped_policies(session, stack, account, region)
        seconds[stack] = time.perf_counter() - start
    return seconds


def stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    """The stack's outputs as DescribeStacks gives them now (an update may add or change some)."""
    (desc,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
