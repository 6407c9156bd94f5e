"""Deploy a synthesized cloud assembly into the emulator, as `cdk deploy` would.

Publishes the file assets where each stack's asset manifest says (zips of directory
assets), then creates the stacks with their real templates in dependency order. What the
emulator cannot model is reported, never silently dropped.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtrain.emulator.authz.moto_state import load_skipped_policies
from dtrain.emulator.synth_cache import stored_bytes

# What the emulator does not enforce; the one honest line at start (see dtrain.emulator.authz).
ENFORCED = (
    "IAM identity, trust, bucket, topic, function, key and EFS file-system policies (with PassRole and "
    "the KMS calls services make for their callers) are enforced for the platform's principals"
)
NOT_ENFORCED = (
    "security groups, VPC routing and endpoints, SCPs/RCPs, permission boundaries, session policies, "
    "KMS encryption itself, FSx mounts, EFS root squashing"
)


def enforcement_line(enforce: bool) -> str:
    if enforce:
        return f"enforced: {ENFORCED}; not enforced: {NOT_ENFORCED}"
    return "policies are recorded but not enforced (enforcement turned off)"


# Policy resources moto's CloudFormation skips; deploy applies them itself (authz.moto_state).
LOADED_BY_DEPLOY = frozenset({"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"})


BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@dataclass
class StackDeployment:
    name: str
    status: str
    outputs: dict[str, str]
    resource_count: int
    not_modelled: list[str] = field(default_factory=list)


@dataclass
class Deployment:
    stacks: dict[str, StackDeployment]
    skipped_assets: list[str]

    def output(self, stack: str, key: str) -> str:
        return self.stacks[stack].outputs[key]

    def not_modelled(self) -> list[str]:
        return sorted({f"{s.name}: {r}" for s in self.stacks.values() for r in s.not_modelled})


def _substitute(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", "aws")
    )


# A staged asset folder is named by the hash of its content (asset.<sha256>; the Lambda bundling
# hashes its output), so one name is one zip: it is made once, kept in this process (a test
# worker's module emulators, a second platform) and in the synth cache's asset-zips folder (the
# next `make demo`, `dtrain emulate up` or test worker). Zipping the platform's five Lambda assets
# was half of a repeated deploy's CPU (1.8 of 3.5 s) and 5.7 of a cold deploy's 16.1 s (load 6).
_STAGED_ASSET = re.compile(r"asset\.[0-9a-f]{64}")
_ZIPPED: dict[str, bytes] = {}  # asset folder name -> its zip, oldest first
_ZIPPED_KEPT = 12  # ~4 MB each: the stand-in's and the platform's five Lambda assets
ZIPS_FOLDER = "asset-zips"
_ZIPS_STORED = 30


def _zip_dir(path: Path) -> bytes:
    if not _STAGED_ASSET.fullmatch(path.name):
        return _zip_tree(path)
    body = _ZIPPED.get(path.name)
    if body is None:
        make = functools.partial(_zip_tree, path)
        body = _ZIPPED[path.name] = stored_bytes(ZIPS_FOLDER, f"{path.name}.zip", make, keep=_ZIPS_STORED)
        while len(_ZIPPED) > _ZIPPED_KEPT:
            _ZIPPED.pop(next(iter(_ZIPPED)))
    return body


def _zip_tree(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(path).as_posix())
    return buf.getvalue()


def publish_assets(
    session: Any,
    assembly: Path,
    manifest_file: str,
    account: str,
    region: str,
    created: list[str] | None = None,
) -> list[str]:
    """Upload file assets; return the docker image assets that were not published. A bucket the
    destination names that does not exist is created and recorded in `created`."""
    manifest = json.loads((assembly / manifest_file).read_text())
    s3 = session.client("s3", region_name=region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for asset in manifest.get("files", {}).values():
        source = assembly / asset["source"]["path"]
        body = _zip_dir(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for dest in asset["destinations"].values():
            bucket = _substitute(dest["bucketName"], account, region)
            if bucket not in existing:
                if region == "us-east-1":
                    s3.create_bucket(Bucket=bucket)
                else:
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
                existing.add(bucket)
                if created is not None:
                    created.append(bucket)
            s3.put_object(Bucket=bucket, Key=_substitute(dest["objectKey"], account, region), Body=body)
    return [f"docker image {h} (no registry in the emulator)" for h in manifest.get("dockerImages", {})]


def stack_order(artifacts: dict[str, Any]) -> list[str]:
    stacks = {k for k, v in artifacts.items() if v["type"] == "aws:cloudformation:stack"}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in artifacts[name].get("dependencies", []):
            if dep in stacks:
                visit(dep)
        order.append(name)

    for name in sorted(stacks):
        visit(name)
    return order


def _unsupported_types(types: Iterable[str]) -> list[str]:
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    supported = set(get_model_map())
    return sorted(
        {t for t in types if t not in supported and t not in NULL_MODELS and not t.startswith("Custom::")}
    )


def _attribute_modelled(resource_type: str, attr: str) -> bool:
    from moto.cloudformation.parsing import get_model_map

    cls = get_model_map().get(resource_type)
    if cls is None or "get_cfn_attribute" not in dir(cls):
        return False
    has = getattr(cls, "has_cfn_attr", None)
    return bool(has(attr)) if callable(has) else True


def _placeholder_id(logical_id: str, resource_type: str) -> str:
    # Ids keep the service's shape so request validation downstream accepts them (fs-<17 hex>).
    digest = hashlib.sha256(logical_id.encode()).hexdigest()
    if resource_type == "AWS::FSx::FileSystem":
        return f"fs-{digest[:17]}"
    return f"emulated-{logical_id}"


def modelled_template(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The template as the emulator can create it (references to resources it cannot model
    replaced by placeholders), and what it could not model. Used by the emulator's own deploy
    and by the CDK CLI's change sets (cdk_cli)."""
    not_modelled = _unsupported_types(
        r["Type"] for r in template.get("Resources", {}).values() if r["Type"] not in LOADED_BY_DEPLOY
    )
    stubbed: list[str] = []
    template = stub_unmodelled_references(template, set(not_modelled), stubbed)
    return template, not_modelled + sorted({f"attribute {a} (placeholder value)" for a in stubbed})


def stub_unmodelled_references(
    template: dict[str, Any], unmodelled: set[str], stubbed: list[str] | None = None
) -> dict[str, Any]:
    """Replace Ref/GetAtt of resources the emulator cannot create by placeholder strings.

    moto skips such resources but fails on an Output or property that reads their
    attributes (an FSx mount name, say). The placeholder names what it stands for, so a
    value that leaks into a job request is recognisable as emulated.
    """
    resources = template.get("Resources", {})
    missing = {name for name, res in resources.items() if res.get("Type") in unmodelled}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and "Ref" in node and node["Ref"] in missing:
                return _placeholder_id(node["Ref"], resources[node["Ref"]].get("Type", ""))
            if len(node) == 1 and "Fn::GetAtt" in node:
                target = node["Fn::GetAtt"]
                name, attr = target.split(".", 1) if isinstance(target, str) else target[:2]
                rtype = resources.get(name, {}).get("Type", "")
                if name in missing or (rtype and not _attribute_modelled(rtype, attr)):
                    if stubbed is not None and name not in missing:
                        stubbed.append(f"{rtype}.{attr}")
                    if attr == "LustreMountName":  # 8 lowercase characters, as FSx makes them
                        return hashlib.sha256(name.encode()).hexdigest()[:8]
                    if attr.endswith("Arn"):  # IAM policies insist on ARN-shaped resources
                        return f"arn:aws:emulated:::{name}/{attr}"
                    return f"emulated-{name}-{attr}"
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = dict(template)
    for section in ("Resources", "Outputs"):
        if section in template:
            out[section] = walk(template[section])
    return out


def deploy_assembly(session: Any, assembly: Path, *, account: str, region: str) -> Deployment:
    manifest = json.loads((assembly / "manifest.json").read_text())
    artifacts: dict[str, Any] = manifest["artifacts"]
    stand_ins = _BootstrapStandIns(session, region)
    try:
        return _deploy_stacks(session, assembly, artifacts, account, region, stand_ins.buckets)
    finally:
        stand_ins.remove()


class _BootstrapStandIns:
    """What the emulator makes of a bootstrapped account while it deploys, and removes after.

    Templates synthesized with the default synthesizer read the bootstrap version parameter,
    and their file assets go to the bootstrap staging bucket. Where `cdk bootstrap` has not
    run, the emulator creates both for the deploy and removes them afterwards (the Lambdas
    keep their code), so a later `cdk bootstrap` against the emulator creates its CDKToolkit
    stack with that bucket and parameter as on a fresh account, instead of failing with
    BucketAlreadyExists / ParameterAlreadyExists."""

    def __init__(self, session: Any, region: str) -> None:
        self.session = session
        self.region = region
        self.buckets: list[str] = []
        ssm = session.client("ssm", region_name=region)
        try:
            ssm.get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)
            self.parameter = False  # bootstrapped: leave it
        except ssm.exceptions.ParameterNotFound:
            ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String")
            self.parameter = True

    def remove(self) -> None:
        s3 = self.session.client("s3", region_name=self.region)
        for bucket in self.buckets:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=obj["Key"])
            s3.delete_bucket(Bucket=bucket)
        if self.parameter:
            self.session.client("ssm", region_name=self.region).delete_parameter(
                Name=BOOTSTRAP_VERSION_PARAMETER
            )


def _deploy_stacks(
    session: Any, assembly: Path, artifacts: dict[str, Any], account: str, region: str, created: list[str]
) -> Deployment:
    cfn = session.client("cloudformation", region_name=region)
    skipped: list[str] = []
    stacks: dict[str, StackDeployment] = {}
    for artifact_id in stack_order(artifacts):
        art = artifacts[artifact_id]
        for dep in art.get("dependencies", []):
            if artifacts.get(dep, {}).get("type") == "cdk:asset-manifest":
                skipped += publish_assets(
                    session, assembly, artifacts[dep]["properties"]["file"], account, region, created
                )
        props = art["properties"]
        template = json.loads((assembly / props["templateFile"]).read_text())
        template, not_modelled = modelled_template(template)
        template_text = json.dumps(template)
        stack_name = props.get("stackName", artifact_id)
        params = [
            {"ParameterKey": k, "ParameterValue": str(v)} for k, v in (props.get("parameters") or {}).items()
        ]
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=template_text,
            Parameters=params,
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        load_skipped_policies(session, stack_name, account, region)
        desc = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
        resources = template.get("Resources", {})
        stacks[stack_name] = StackDeployment(
            name=stack_name,
            status=desc["StackStatus"],
            outputs=outputs,
            resource_count=len(resources),
            not_modelled=not_modelled,
        )
    return Deployment(stacks=stacks, skipped_assets=skipped)
