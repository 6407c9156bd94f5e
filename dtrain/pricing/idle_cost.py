"""What a deployed platform costs per month while no job runs, read from its synthesized templates.

Counted from the CloudFormation resources themselves (so a config switch shows in the figure
without anyone updating a table): the resources AWS bills by the hour or month whether or not
they are used. Each line says what it counts and how. Usage-billed resources (S3, DynamoDB
on-demand, Step Functions, SNS, log ingestion and storage, ECR storage, EFS storage) cost
nothing while idle and are left out; docs/operator.md's cost section lists them.

Billing rules, from the pricing pages the price table names:
- FSx for Lustre: provisioned storage per GB-month, the price set by deployment type and
  throughput per TiB (SSD).
- Interface VPC endpoints: per endpoint per Availability Zone per hour, "irrespective of the
  state of its association" (AWS PrivateLink pricing); gateway endpoints (S3) are free.
- NAT gateways: per hour each.
- KMS: per customer managed key per month (each of the first two rotations adds the same again).
- CloudWatch: per alarm metric per month, per dashboard per month (the first three
  dashboards of an account are free; not counted here, as the account may use them).
- Lambda on a schedule: requests plus GB-seconds; the bound is every run lasting its timeout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dtrain.pricing.price_table import MissingPrice, PriceTable

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_RATE_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


@dataclass(frozen=True)
class IdleLine:
    stack: str
    resource: str
    quantity: str
    usd_month: float
    how: str


def _resources(templates: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            yield stack, logical_id, str(resource.get("Type")), dict(resource.get("Properties") or {})


def _fsx(stack: str, props: dict[str, Any], table: PriceTable) -> IdleLine:
    lustre = props.get("LustreConfiguration") or {}
    deployment = str(lustre.get("DeploymentType", "SCRATCH_1"))
    throughput = lustre.get("PerUnitStorageThroughput")
    key = f"{deployment}/{throughput}" if deployment.startswith("PERSISTENT") else deployment
    prices = table.platform_price("fsx_lustre_gb_month")
    if key not in prices:
        raise MissingPrice(f"platform.fsx_lustre_gb_month.{key}", table)
    gib = int(props["StorageCapacity"])
    price = float(prices[key])
    return IdleLine(
        stack,
        "FSx for Lustre",
        f"{gib} GiB {key}",
        gib * price,
        f"{gib} GB-month x ${price}",
    )


def _alarm_metrics(props: dict[str, Any]) -> int:
    metrics = props.get("Metrics")
    if not metrics:
        return 1
    # A metric-math alarm is billed per metric it reads, not for the expression.
    return max(1, sum(1 for m in metrics if "MetricStat" in m))


def _schedule_minutes(expression: str) -> int | None:
    match = _RATE.fullmatch(expression.strip())
    return int(match.group(1)) * _RATE_MINUTES[match.group(2)] if match else None


def idle_cost(templates: Mapping[str, Mapping[str, Any]], table: PriceTable) -> list[IdleLine]:
    """One line per billed kind of resource and stack, largest first."""
    hours = table.hours_per_month
    functions = {
        (stack, logical_id): props
        for stack, logical_id, rtype, props in _resources(templates)
        if rtype == "AWS::Lambda::Function"
    }
    lines: list[IdleLine] = []
    counts: dict[tuple[str, str], int] = {}
    for stack, _logical_id, rtype, props in _resources(templates):
        if rtype == "AWS::FSx::FileSystem":
            lines.append(_fsx(stack, props, table))
        elif rtype == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
            counts[(stack, "interface endpoint-AZ")] = counts.get((stack, "interface endpoint-AZ"), 0) + len(
                props.get("SubnetIds") or [None]
            )
        elif rtype == "AWS::EC2::NatGateway":
            counts[(stack, "NAT gateway")] = counts.get((stack, "NAT gateway"), 0) + 1
        elif rtype == "AWS::KMS::Key":
            counts[(stack, "KMS key")] = counts.get((stack, "KMS key"), 0) + 1
        elif rtype == "AWS::CloudWatch::Alarm":
            counts[(stack, "alarm metric")] = counts.get((stack, "alarm metric"), 0) + _alarm_metrics(props)
        elif rtype == "AWS::CloudWatch::Dashboard":
            counts[(stack, "dashboard")] = counts.get((stack, "dashboard"), 0) + 1
        elif rtype == "AWS::Events::Rule" and props.get("ScheduleExpression"):
            lines.extend(_scheduled_lambdas(stack, props, functions, table))
    unit = {
        "interface endpoint-AZ": ("interface_endpoint_az_hour", hours, "h"),
        "NAT gateway": ("nat_gateway_hour", hours, "h"),
        "KMS key": ("kms_key_month", 1.0, "month"),
        "alarm metric": ("cloudwatch_alarm_metric_month", 1.0, "month"),
        "dashboard": ("cloudwatch_dashboard_month", 1.0, "month"),
    }
    names = {
        "interface endpoint-AZ": "interface VPC endpoints",
        "NAT gateway": "NAT gateways",
        "KMS key": "KMS keys",
        "alarm metric": "CloudWatch alarms",
        "dashboard": "CloudWatch dashboards",
    }
    for (stack, kind), count in counts.items():
        key, periods, per = unit[kind]
        price = float(table.platform_price(key))
        how = f"{count} x {periods:g} {per} x ${price}" if per == "h" else f"{count} x ${price}/month"
        lines.append(IdleLine(stack, names[kind], f"{count} x {kind}", count * periods * price, how))
    return sorted(lines, key=lambda line: -line.usd_month)


def _scheduled_lambdas(
    stack: str, rule: dict[str, Any], functions: Mapping[tuple[str, str], dict[str, Any]], table: PriceTable
) -> Iterator[IdleLine]:
    minutes = _schedule_minutes(str(rule["ScheduleExpression"]))
    if minutes is None:
        return
    runs = table.hours_per_month * 60 / minutes
    for target in rule.get("Targets") or []:
        arn = target.get("Arn")
        logical_id = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        fn = functions.get((stack, str(logical_id)))
        if fn is None:
            continue
        memory_gb = int(fn.get("MemorySize", 128)) / 1024
        timeout_s = int(fn.get("Timeout", 3))
        requests = runs / 1e6 * float(table.platform_price("lambda_request_million"))
        compute = runs * memory_gb * timeout_s * float(table.platform_price("lambda_gb_second"))
        yield IdleLine(
            stack,
            f"Lambda {logical_id} on {rule['ScheduleExpression']}",
            f"{runs:.0f} runs",
            requests + compute,
            f"at most: every run lasting its {timeout_s} s timeout at {memory_gb * 1024:.0f} MB",
        )


def as_rows(lines: list[IdleLine]) -> list[dict[str, Any]]:
    return [asdict(line) for line in lines]
