"""The Tags of every request an execution makes: the spec's own (the block's, else the
estimator's for deploy and transform, as Estimator.deploy / transformer pass them on), then the
platform's, a key the spec gives keeping the spec's value. One function merges them
(dtrain.requests.request_tags.merged_tags); the three request builders used to write it each."""

from __future__ import annotations

import ast
import copy
import json
from typing import Any

import pytest

from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.execution_requests import execution_requests
from dtrain.requests.experiment_calls import CREATE_EXPERIMENT, CREATE_TRIAL
from dtrain.requests.request_tags import merged_tags

from .conftest import PLATFORM_DICT, REPO

PLATFORM_TAGS = [{"Key": "team", "Value": "ml-platform"}, {"Key": "cost-center", "Value": "1234"}]


def _every_block_spec() -> dict[str, Any]:
    """The preprocessing example with the deploy and transform examples' blocks added."""
    spec = json.loads((REPO / "examples" / "processing" / "ddp_with_preprocessing.json").read_text())
    for name in ("deploy", "transform"):
        example = REPO / "examples" / "deploy" / f"ddp_torchrun_{name}.json"
        spec[name] = json.loads(example.read_text())[name]
    return spec


def _tags_by_request(spec: dict[str, Any], platform: PlatformSettings | None) -> dict[str, Any]:
    planned = execution_requests(parse_spec(spec), platform, region="eu-west-1")
    # The experiment Submit creates first is not tagged (permissions.allow_experiments: no AddTags).
    untagged = (CREATE_EXPERIMENT, CREATE_TRIAL)
    return {p.label: p.request.get("Tags", "absent") for p in planned if p.operation not in untagged}


def test_no_tags_anywhere_sends_none_but_create_endpoints_empty_list() -> None:
    untagged = PlatformSettings.from_dict({**copy.deepcopy(PLATFORM_DICT), "tags": {}})
    tags = _tags_by_request(_every_block_spec(), untagged)
    assert tags == {
        "CreateProcessingJob": "absent",
        "CreateTrainingJob": "absent",
        "CreateModel": "absent",
        "CreateEndpointConfig": "absent",
        "CreateEndpoint": [],  # Session.create_endpoint always sends Tags
        "CreateModel (transform)": "absent",
        "CreateTransformJob": "absent",
    }


def test_platform_tags_follow_each_blocks_own(platform: PlatformSettings) -> None:
    spec = _every_block_spec()
    spec["estimator"]["tags"] = {"team": "vision", "owner": "ana"}
    spec["processing"]["processor"]["tags"] = {"stage": "prep"}
    spec["deploy"]["tags"] = {"cost-center": "77"}
    spec["transform"]["tags"] = {}
    estimator_and_platform = [
        {"Key": "team", "Value": "vision"},
        {"Key": "owner", "Value": "ana"},
        {"Key": "cost-center", "Value": "1234"},
    ]
    deploy_and_platform = [{"Key": "cost-center", "Value": "77"}, {"Key": "team", "Value": "ml-platform"}]
    assert _tags_by_request(spec, platform) == {
        "CreateProcessingJob": [{"Key": "stage", "Value": "prep"}, *PLATFORM_TAGS],
        "CreateTrainingJob": estimator_and_platform,
        "CreateModel": deploy_and_platform,  # the model is tagged as the block that makes it
        "CreateEndpointConfig": deploy_and_platform,
        "CreateEndpoint": deploy_and_platform,
        "CreateModel (transform)": PLATFORM_TAGS,
        "CreateTransformJob": PLATFORM_TAGS,  # an empty block's tags still win over the estimator's
    }


def test_platform_tags_alone(platform: PlatformSettings) -> None:
    tags = _tags_by_request(_every_block_spec(), platform)
    assert set(map(json.dumps, tags.values())) == {json.dumps(PLATFORM_TAGS)}


@pytest.mark.parametrize(
    ("own", "platform_tags", "expected"),
    [
        (None, {}, None),
        ((), {}, []),
        (None, {"a": "1"}, [{"Key": "a", "Value": "1"}]),
        (
            (("a", "mine"), ("b", "2")),
            {"a": "1", "c": "3"},
            [
                {"Key": "a", "Value": "mine"},
                {"Key": "b", "Value": "2"},
                {"Key": "c", "Value": "3"},
            ],
        ),
    ],
)
def test_merged_tags(own: Any, platform_tags: dict[str, str], expected: Any) -> None:
    platform = PlatformSettings.from_dict({**copy.deepcopy(PLATFORM_DICT), "tags": platform_tags})
    assert merged_tags(own, platform) == expected
    if not platform_tags:
        assert merged_tags(own, None) == expected


def test_only_request_tags_reads_the_platforms_tags() -> None:
    """The merge is written once: no other request builder reads PlatformSettings.tags."""
    readers = []
    for path in sorted((REPO / "dtrain" / "requests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "tags":
                value = node.value
                if isinstance(value, ast.Name) and value.id == "platform":
                    readers.append(path.name)
    assert set(readers) == {"request_tags.py"}
