"""The Lambdas' Powertools settings and the dashboard widgets of their EMF metrics match what the
code emits: namespace, metric names, the `service` dimension of each function."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from dtrain.constructs.orchestration.lambda_bundling import LAMBDA_ROOT
from dtrain.constructs.orchestration.lambda_environment import METRICS_NAMESPACE_ENV, metrics_namespace
from dtrain.constructs.orchestration.lambda_metrics import DASHBOARD_WIDGETS
from dtrain.constructs.orchestration_stack import OrchestrationStack
from dtrain.orchestration.observability import NAMESPACE_ENV, TRACED_MODULES, Metric

if TYPE_CHECKING:
    from dtrain.constructs.synthesis import SynthesizedApp


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def orchestration_stack(synthesized_app: SynthesizedApp) -> OrchestrationStack:
    (stack,) = [s for s in synthesized_app.app.node.children if isinstance(s, OrchestrationStack)]
    return stack


def service_of(folder: str) -> str:
    """The service name the handler gives its Instruments."""
    text = (LAMBDA_ROOT / folder / "handler.py").read_text()
    (name,) = re.findall(r"""observability\.Instruments\(\s*["'](\w+)["']""", text)
    return name


def test_every_function_has_its_folder_as_service_name() -> None:
    for handler in LAMBDA_ROOT.glob("*/handler.py"):
        assert service_of(handler.parent.name) == handler.parent.name


def test_the_dashboard_names_exactly_the_metrics_the_functions_emit() -> None:
    names = {name for _, series in DASHBOARD_WIDGETS for name, _ in series}
    assert names == {m.value for m in Metric}
    folders = {p.parent.name for p in LAMBDA_ROOT.glob("*/handler.py")}
    assert {service for _, series in DASHBOARD_WIDGETS for _, service in series} <= folders
    assert NAMESPACE_ENV == METRICS_NAMESPACE_ENV and TRACED_MODULES == ("botocore",)


def test_functions_are_traced_and_told_their_namespace(synthesized_app: SynthesizedApp) -> None:
    stack = orchestration_stack(synthesized_app)
    functions = resources(synthesized_app.template_dicts["orchestration"], "AWS::Lambda::Function")
    assert len(functions) == 5
    for fn in functions:
        env = fn["Environment"]["Variables"]
        assert fn["TracingConfig"] == {"Mode": "Active"}
        assert env[METRICS_NAMESPACE_ENV] == metrics_namespace(stack.stack_name)
        assert env["POWERTOOLS_TRACE_DISABLED"] == "false" and env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_the_dashboard_graphs_each_metric_with_the_dimension_the_code_emits(
    synthesized_app: SynthesizedApp,
) -> None:
    stack = orchestration_stack(synthesized_app)
    (dashboard,) = resources(synthesized_app.template_dicts["orchestration"], "AWS::CloudWatch::Dashboard")
    # Fn::Join of the JSON text and tokens (region, ARNs): the text parses with them stubbed.
    parts = dashboard["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))
    graphed = {
        tuple(m[:4]) for w in body["widgets"] for m in w["properties"].get("metrics", []) if len(m) >= 4
    }
    namespace = metrics_namespace(stack.stack_name)
    for _, series in DASHBOARD_WIDGETS:
        for name, service in series:
            assert (namespace, name, "service", service) in graphed, (name, service)
