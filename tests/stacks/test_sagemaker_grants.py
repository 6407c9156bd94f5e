"""Who may do what in SageMaker: the orchestration Lambdas' grants, as a set, whatever the grouping.

The Lambdas' SageMaker statements come from the resource table and CALLERS (stacks/orchestration/
permissions.py); this pins what they grant, written out here as a reviewer reads it. The set is
the one of c948c13 (when hosting's statements were hand-written) less ten grants that no
SageMaker action uses: its grouped statements put Describe/Stop/DeleteEndpoint on transform-job
ARNs and Describe/StopTransformJob on endpoint ARNs, and an action is authorized only against its
own resource types (Service Authorization Reference, "Actions defined by Amazon SageMaker AI").
`benchmarks/iam_grant_sets.py --before c948c13` lists those ten and shows nothing else changed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from dtrain.constructs.orchestration_stack import OrchestrationStack
from tests.stacks.iam_grants import grants, render

if TYPE_CHECKING:
    from dtrain.constructs.synthesis import SynthesizedApp

_TRAINING = {"training-job": "DescribeTrainingJob StopTrainingJob"}
_PROCESSING = {"processing-job": "DescribeProcessingJob StopProcessingJob"}
# Part -> ARN type -> the SageMaker actions the part's role holds on `<type>/<prefix>-*`.
REVIEWED = {
    "submit": {
        "training-job": "AddTags CreateTrainingJob DescribeTrainingJob ListTags StopTrainingJob",
        "processing-job": "AddTags CreateProcessingJob DescribeProcessingJob ListTags StopProcessingJob",
        "model": "AddTags CreateModel CreateTransformJob DescribeModel ListTags",
        "endpoint-config": (
            "AddTags CreateEndpoint CreateEndpointConfig DescribeEndpointConfig ListTags UpdateEndpoint"
        ),
        "endpoint": "AddTags CreateEndpoint DeleteEndpoint DescribeEndpoint ListTags UpdateEndpoint",
        "transform-job": "AddTags CreateTransformJob DescribeTransformJob ListTags",
    },
    "job_events": {},
    "reconcile": {
        **_TRAINING,
        **_PROCESSING,
        "endpoint": "DeleteEndpoint DescribeEndpoint",
        "transform-job": "DescribeTransformJob StopTransformJob",
    },
    "abort": {
        "training-job": "StopTrainingJob",
        "processing-job": "StopProcessingJob",
        "endpoint": "DescribeEndpoint",
        "transform-job": "DescribeTransformJob StopTransformJob",
    },
    "finalize": {
        "training-job": "DescribeTrainingJob",
        "endpoint": "DescribeEndpoint",
        "transform-job": "DescribeTransformJob",
    },
}

# Part -> ARN type -> the actions held on every name of the type (`<type>/*`): the experiment and
# trial a job's ExperimentConfig names are the scientist's (or the sweep's), not on the prefix;
# Submit creates them before the job (dtrain.orchestration.experiment_entities). Create only.
ON_EVERY_NAME = {"submit": {"experiment": "CreateExperiment", "experiment-trial": "CreateTrial"}}


@pytest.fixture(scope="module")
def stack(synthesized_app: SynthesizedApp) -> OrchestrationStack:
    (found,) = [s for s in synthesized_app.app.node.children if isinstance(s, OrchestrationStack)]
    return found


def test_each_lambda_holds_exactly_the_reviewed_sagemaker_grants(
    synthesized_app: SynthesizedApp, stack: OrchestrationStack
) -> None:
    prefix = stack.options.job_name_prefix
    on_prefix = re.compile(
        rf"^arn:\$\{{AWS::Partition\}}:sagemaker:\$\{{AWS::Region\}}:"
        rf"\$\{{AWS::AccountId\}}:([a-z-]+)/{re.escape(prefix)}-\*$"
    )
    on_every_name = re.compile(
        r"^arn:\$\{AWS::Partition\}:sagemaker:\$\{AWS::Region\}:\$\{AWS::AccountId\}:([a-z-]+)/\*$"
    )
    held = grants(synthesized_app.template_dicts["orchestration"])
    for part, fn in zip(stack.functions.PARTS, stack.functions.all, strict=True):
        role = render({"Ref": stack.get_logical_id(fn.role.node.default_child)})  # type: ignore[union-attr, arg-type]
        found: dict[str, set[str]] = {}
        everywhere: dict[str, set[str]] = {}
        for holder, action, resource, condition in held:
            if holder != role or not action.startswith("sagemaker:"):
                continue
            matched = on_prefix.match(resource)
            into = found
            if not matched:
                matched, into = on_every_name.match(resource), everywhere
            # Every SageMaker grant is on the prefix, or one of ON_EVERY_NAME's.
            assert matched, (part, action, resource)
            assert condition == "{}", (part, action)
            into.setdefault(matched.group(1), set()).add(action.removeprefix("sagemaker:"))
        assert found == {t: set(actions.split()) for t, actions in REVIEWED[part].items()}, part
        expected = ON_EVERY_NAME.get(part, {})
        assert everywhere == {t: set(actions.split()) for t, actions in expected.items()}, part
