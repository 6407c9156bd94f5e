"""The platform's idle cost per month, counted from its synthesized templates (dtrain.pricing.idle_cost)."""

from __future__ import annotations

from typing import Any

import pytest

from dtrain.pricing.idle_cost import idle_cost
from dtrain.pricing.price_table import MissingPrice, load_price_table


def _by_resource(templates: dict[str, Any]) -> dict[str, float]:
    """Monthly cost per kind of resource, summed over the stacks."""
    costs: dict[str, float] = {}
    for line in idle_cost(templates, load_price_table()):
        costs[line.resource] = costs.get(line.resource, 0.0) + line.usd_month
    return costs


def test_each_billed_resource_is_priced_by_its_own_properties() -> None:
    templates = {
        "network": {
            "Resources": {
                "Api": {
                    "Type": "AWS::EC2::VPCEndpoint",
                    "Properties": {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b", "c"]},
                },
                "S3": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
                "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
            }
        },
        "storage": {
            "Resources": {
                "Fs": {
                    "Type": "AWS::FSx::FileSystem",
                    "Properties": {
                        "StorageCapacity": 2400,
                        "LustreConfiguration": {
                            "DeploymentType": "PERSISTENT_2",
                            "PerUnitStorageThroughput": 250,
                        },
                    },
                },
                "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            }
        },
        "orchestration": {
            "Resources": {
                "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1024, "Timeout": 60}},
                "Every": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "ScheduleExpression": "rate(1 hour)",
                        "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}}],
                    },
                },
                "Math": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "Metrics": [
                            {"Id": "e", "Expression": "a+b"},
                            {"Id": "a", "MetricStat": {}},
                            {"Id": "b", "MetricStat": {}},
                        ]
                    },
                },
            }
        },
    }
    costs = _by_resource(templates)
    assert costs["interface VPC endpoints"] == pytest.approx(3 * 730 * 0.01)  # per endpoint per AZ-hour
    assert costs["NAT gateways"] == pytest.approx(730 * 0.045)
    assert costs["FSx for Lustre"] == pytest.approx(2400 * 0.21)
    assert costs["KMS keys"] == pytest.approx(1.0)
    assert costs["CloudWatch alarms"] == pytest.approx(2 * 0.1)  # a math alarm: per metric it reads
    assert costs["Lambda Fn on rate(1 hour)"] == pytest.approx(730 * (0.2e-6 + 1.0 * 60 * 0.0000166667))


def test_an_fsx_option_the_table_lacks_is_refused() -> None:
    fs = {
        "Type": "AWS::FSx::FileSystem",
        "Properties": {
            "StorageCapacity": 1200,
            "LustreConfiguration": {"DeploymentType": "PERSISTENT_1", "PerUnitStorageThroughput": 50},
        },
    }
    with pytest.raises(MissingPrice, match="PERSISTENT_1/50"):
        idle_cost({"s": {"Resources": {"Fs": fs}}}, load_price_table())


def test_the_default_platform_idle_cost(template_dicts: dict[str, dict[str, Any]]) -> None:
    """The default app (cdk.json) as synthesized once per session: FSx, 7 endpoints in 2 zones,
    3 keys (data, orchestration, flow logs), 6 alarms, a dashboard and the 5-minute reconcile Lambda."""
    costs = _by_resource(template_dicts)
    assert costs["FSx for Lustre"] == pytest.approx(1200 * 0.145)
    assert costs["interface VPC endpoints"] == pytest.approx(7 * 2 * 730 * 0.01)
    assert costs["KMS keys"] == pytest.approx(3.0)
    assert "NAT gateways" not in costs
    reconcile = [usd for name, usd in costs.items() if name.startswith("Lambda Reconcile")]
    # 8760 runs a month, bounded by each lasting its 300 s timeout at 256 MB.
    assert reconcile == [pytest.approx(8760 * (0.2e-6 + 0.25 * 300 * 0.0000166667))]
    assert costs["CloudWatch alarms"] == pytest.approx(6 * 0.1)
    assert costs["CloudWatch dashboards"] == pytest.approx(3.0)
