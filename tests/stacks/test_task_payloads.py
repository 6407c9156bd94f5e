"""One source per payload: every Lambda task state of the synthesized state machine sends its
Lambda exactly the fields of the class that Lambda parses (dtrain.orchestration.payloads), and the
stack's binding refuses a field the class lacks (dtrain.constructs.orchestration.payloads)."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import aws_stepfunctions as sfn

from dtrain.constructs.orchestration import payloads as binding
from dtrain.constructs.orchestration_stack import OrchestrationStack
from dtrain.orchestration import payloads as runtime
from dtrain.orchestration import typed_payload
from dtrain.orchestration.typed_payload import Payload

if TYPE_CHECKING:
    from dtrain.constructs.synthesis import SynthesizedApp


@pytest.fixture(scope="module")
def lambda_tasks(synthesized_app: SynthesizedApp) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each Lambda task state: the Lambda it invokes (lambda/<name>) and its Payload template."""
    (stack,) = [s for s in synthesized_app.app.node.children if isinstance(s, OrchestrationStack)]
    handlers = {
        stack.get_logical_id(fn.node.default_child): name  # type: ignore[arg-type]
        for name, fn in (("submit_job", stack.submit_fn), ("finalize", stack.finalize_fn))
    }
    template = synthesized_app.template_dicts["orchestration"]
    (machine,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    # A token joined in is written as the logical id it names: FunctionName names its Lambda.
    text = "".join(p if isinstance(p, str) else _token_text(p) for p in parts)
    tasks: dict[str, tuple[str, dict[str, Any]]] = {}
    for state_id, state in _states(json.loads(text)["States"]):
        if state["Type"] != "Task":
            continue
        if state["Resource"] in handlers:  # a plain invoke: the Resource is the function, the
            tasks[state_id] = (handlers[state["Resource"]], state["Parameters"])  # payload its own
        elif ":lambda:invoke" in state["Resource"]:  # a callback: the invoke's Payload
            function = state["Parameters"]["FunctionName"]
            tasks[state_id] = (handlers[function], state["Parameters"]["Payload"])
    return tasks


def _token_text(token: dict[str, Any]) -> str:
    if "Fn::GetAtt" in token:
        return str(token["Fn::GetAtt"][0])
    return "TOKEN"


def _states(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every state, the Map's item processor's included."""
    found = []
    for state_id, state in states.items():
        found.append((state_id, state))
        if state["Type"] == "Map":
            found += _states(state["ItemProcessor"]["States"])
    return found


def _payload_class(lambda_name: str, payload: dict[str, Any]) -> type[Payload]:
    key, classes = runtime.BY_LAMBDA[lambda_name]
    return classes[payload[key]]


def _keys(payload: dict[str, Any]) -> list[str]:
    """A payload template's keys, less the `.$` of a JsonPath value."""
    return [key.removesuffix(".$") for key in payload]


def test_every_lambda_task_sends_the_fields_its_lambda_parses(
    lambda_tasks: dict[str, tuple[str, dict[str, Any]]],
) -> None:
    assert {"Prepare", "Process", "Submit", "SubmitItem", "ItemResult", "RankSweep", "Finalize"} <= set(
        lambda_tasks
    )
    assert {"CreateModel", "Deploy", "Transform", "FinalizeHosting", "DescribeFailure"} <= set(lambda_tasks)
    sent: dict[type[Payload], set[str]] = {}
    for state_id, (lambda_name, payload) in lambda_tasks.items():
        kind = _payload_class(lambda_name, payload)
        names = [f.name for f in dataclasses.fields(kind)]
        keys = _keys(payload)
        # No key the Lambda does not read; every field it needs; in the class's order.
        assert set(keys) <= set(names), (state_id, sorted(set(keys) - set(names)))
        assert set(kind.required()) <= set(keys), (state_id, sorted(set(kind.required()) - set(keys)))
        assert keys == [name for name in names if name in keys], state_id
        sent.setdefault(kind, set()).update(keys)
    # No field that no state sends: each optional one is sent by some state (the sweep's item
    # fields by SubmitItem, the model by Deploy and Transform, processing by Submit).
    # `team` only from a team's state machine (a platform with teams: tests/stacks/test_teams.py).
    for kind, keys in sent.items():
        assert keys == {f.name for f in dataclasses.fields(kind)} - {"team"}, kind.__name__
    assert set(sent) == set(runtime.SUBMIT_PHASES.values()) | set(runtime.FINALIZE_MODES.values())


def test_each_task_payload_parses_as_its_class_when_the_paths_are_filled(
    lambda_tasks: dict[str, tuple[str, dict[str, Any]]],
) -> None:
    """A JsonPath filled with a value of its field's type, a literal as synthesized (`phase`,
    `is_sweep_item: true`): the Lambda's parse accepts the payload as the state's class."""
    for state_id, (lambda_name, payload) in lambda_tasks.items():
        kind = _payload_class(lambda_name, payload)
        event = {}
        for key, value in payload.items():
            name = key.removesuffix(".$")
            event[name] = _sample(typed_payload.field_types(kind)[name]) if key.endswith(".$") else value
        parse = runtime.parse_submit_event if lambda_name == "submit_job" else runtime.parse_finalize_event
        assert type(parse(event)) is kind, state_id


def _sample(hint: Any) -> Any:
    """A value of the field's type."""
    return next(v for v in ("x", 1, True, {}, []) if typed_payload.is_instance(v, hint))


def test_the_binding_refuses_a_field_the_class_lacks_and_an_unbound_required_one() -> None:
    with pytest.raises(ValueError, match="FinalizeJobPayload has no field job"):
        binding.payload_object(runtime.FinalizeJobPayload, mode="job", job="x", job_name="y")
    with pytest.raises(ValueError, match="SubmitPayload needs task_token"):
        binding.payload_object(
            runtime.SubmitPayload, phase="submit", spec={}, execution_arn="a", execution_name="n"
        )
    with pytest.raises(ValueError, match="is not the payload of phase 'prepare'"):
        binding.payload_object(
            runtime.HostingPayload, phase="prepare", spec={}, execution_arn="a", execution_name="n"
        )
    # A field bound to None is left out; the keys follow the class's order.
    built = binding.payload_object(
        runtime.FinalizeJobPayload, execution_arn=sfn.JsonPath.execution_id, job_name="j", mode="job"
    )
    assert list(built) == ["mode", "job_name", "execution_arn"]
