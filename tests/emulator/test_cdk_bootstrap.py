"""`cdk bootstrap` against the emulator after it deployed an app: the bootstrap stack's staging
bucket and version parameter are not left behind by the emulator's own deploy (it removes the
stand-ins it made), so CDKToolkit is created as on a fresh account; a deploy after bootstrap
uses the bootstrap's bucket and leaves it in place (dtrain.emulator.deploy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from dtrain.emulator.deploy import BOOTSTRAP_VERSION_PARAMETER, deploy_assembly

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_TEMPLATE = ROOT / "node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STAGING = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


def _assembly(tmp_path: Path) -> Path:
    """One stack with a file asset bound for the bootstrap bucket and the version parameter the
    default synthesizer adds, as `cdk synth` writes them."""
    (tmp_path / "asset.1").mkdir()
    (tmp_path / "asset.1" / "data.txt").write_text("payload")
    destination = {
        "bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}",
        "objectKey": "1.zip",
    }
    files = {"1": {"source": {"path": "asset.1", "packaging": "zip"}, "destinations": {"d": destination}}}
    (tmp_path / "App.assets.json").write_text(json.dumps({"files": files}))
    template = {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": BOOTSTRAP_VERSION_PARAMETER,
            }
        },
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
    }
    (tmp_path / "App.template.json").write_text(json.dumps(template))
    manifest = {
        "artifacts": {
            "App.assets": {"type": "cdk:asset-manifest", "properties": {"file": "App.assets.json"}},
            "App": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "App.template.json"},
                "dependencies": ["App.assets"],
            },
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def _cdk_bootstrap() -> str:
    """What `cdk bootstrap` does with CloudFormation: a CREATE change set of its template."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_change_set(
        StackName="CDKToolkit",
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType="CREATE",
        TemplateBody=BOOTSTRAP_TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.execute_change_set(StackName="CDKToolkit", ChangeSetName="cdk-deploy-change-set")
    return str(cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["StackStatus"])


def test_bootstrap_after_the_emulator_deployed_an_app(aws: None, tmp_path: Path) -> None:
    assembly = _assembly(tmp_path)
    deployment = deploy_assembly(boto3.Session(), assembly, account=ACCOUNT, region=REGION)
    assert deployment.stacks["App"].status == "CREATE_COMPLETE"
    s3 = boto3.client("s3", region_name=REGION)
    assert STAGING not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert _cdk_bootstrap() == "CREATE_COMPLETE"
    version = boto3.client("ssm", region_name=REGION).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)
    # A deploy after bootstrap publishes into the bootstrap's bucket and keeps it and its version.
    again = tmp_path / "again"
    again.mkdir()
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName="App")
    deploy_assembly(boto3.Session(), _assembly(again), account=ACCOUNT, region=REGION)
    assert s3.get_object(Bucket=STAGING, Key="1.zip")["Body"].read()
    kept = boto3.client("ssm", region_name=REGION).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)
    assert kept["Parameter"]["Value"] == version["Parameter"]["Value"]
