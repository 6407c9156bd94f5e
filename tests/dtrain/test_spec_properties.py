"""Property tests: any spec, random or mutated, is either refused with SpecError(s) naming a
field of the spec, or becomes a request that passes the strict model check. Nothing else:
no other exception, and never a RequestValidationError (that would be a gap in the spec
checks, caught only by the safety net).

Fixed and derandomized so CI runs the same examples every time.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dtrain.jobspec.errors import RequestValidationError, SpecError, SpecErrors
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.schema import job_spec_schema
from dtrain.jobspec.spec import parse_spec
from dtrain.jobspec.spec_estimator import ESTIMATOR_KEYS
from dtrain.jobspec.validate_request import request_problems
from dtrain.requests.training_request import build_training_job_request

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPECS = [json.loads(p.read_text()) for p in sorted((REPO / "examples").glob("*.json"))]
# CI: 300 fixed examples per property. DTRAIN_HYPOTHESIS_EXAMPLES=N runs N random ones (a hunt).
HUNT = int(os.environ.get("DTRAIN_HYPOTHESIS_EXAMPLES", "0"))
MAX_EXAMPLES = HUNT or 300
CI = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=not HUNT,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PLATFORM = PlatformSettings(
    region="us-east-1",
    role_arn="arn:aws:iam::123456789012:role/dtrain-job",
    output_s3_uri="s3://dtrain-artifacts/jobs",
    checkpoint_s3_uri="s3://dtrain-checkpoints/ckpt",
    data_s3_uri="s3://dtrain-data",
    subnets=("subnet-0abc",),
    security_group_ids=("sg-0abc",),
    image_uris={
        "ddp": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:1",
        "horovod": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-horovod:1",
    },
    fsx_id="fs-0123456789abcdef0",
    fsx_mount_name="mnt",
    efs_id="fs-0fedcba9",
    tags={"platform": "dtrain"},
)

_SCHEMA = jsonschema.Draft202012Validator(job_spec_schema())

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=8,
)
texts = st.text(max_size=40) | st.sampled_from(["", "\n", "a" * 300, "ml.", "s3://", "fs-", "sagemaker_x"])


STRATEGIES_OK = [
    {"torch_distributed": {"enabled": True}},
    {"pytorchddp": {"enabled": True}},
    {"smdistributed": {"dataparallel": {"enabled": True, "custom_mpi_options": "-v"}}},
    {"mpi": {"enabled": True, "processes_per_host": 2, "custom_mpi_options": ""}},
    {"mpi": {"enabled": True}},
    {"parameter_server": {"enabled": True}},
    {"multi_worker_mirrored_strategy": {"enabled": True}},
]
STRATEGIES_BAD = [
    {"mpi": {"enabled": False}},
    {"mpi": {"enabled": True}, "pytorchddp": {"enabled": True}},
    {},
]


def spec_strategy(chaos: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Specs with plausible values (chaos=False: builds often) or with wrong values mixed in."""

    def pick(ok: list[Any], bad: list[Any] | None = None, extra: st.SearchStrategy[Any] | None = None) -> Any:
        good = st.sampled_from(ok) if extra is None else st.sampled_from(ok) | extra
        if not chaos:
            return good
        wrong = st.sampled_from(bad) if bad else json_values
        return st.one_of(good, good, wrong, json_values)

    def pick_key(ok: list[str], bad: list[str]) -> st.SearchStrategy[str]:
        # Dictionary keys: JSON object keys are always strings.
        return st.sampled_from(ok) if not chaos else st.sampled_from(ok + bad) | texts

    s3_ok = ["s3://my-bucket/data", "s3://my-bucket", "s3://data-1.example/a/b"]
    s3_bad = ["s3://Bad_Bucket/x", "s3://b/x", "http://x/y", "s3://", "s3://my-bucket/" + "k" * 1100]
    s3_uris = pick(s3_ok, s3_bad, st.builds(lambda key: f"s3://my-bucket/{key}", st.text(max_size=30)))
    modes_ok = ["File", "Pipe", "FastFile"]
    channel = st.one_of(
        s3_uris,
        st.fixed_dictionaries(
            {"s3_data": s3_uris},
            optional={
                "distribution": pick(["FullyReplicated", "ShardedByS3Key"], ["x"]),
                "input_mode": pick(modes_ok, ["y"]),
                "s3_data_type": pick(["S3Prefix", "ManifestFile", "AugmentedManifestFile"], ["Converse"]),
                "content_type": pick(["text/csv", "application/x-recordio"], ["\n", "c" * 300]),
                "compression": pick(["None", "Gzip"], ["zip"]),
                "record_wrapping": pick(["None", "RecordIO"], ["x"]),
                "attribute_names": pick([["source-ref"], []], [[""], ["a"] * 20]),
            },
        ),
        st.fixed_dictionaries(
            {
                "file_system_id": pick(
                    ["fs-0123abcd", "fs-0123456789abcdef0"], ["fs-xyz", "fs-0123456789abcdef0123"]
                ),
                "file_system_type": pick(["EFS", "FSxLustre"], ["NFS"]),
                "directory_path": pick(["/data", "/mnt/x/y"], ["data", "/" + "d" * 5000]),
            },
            optional={"file_system_access_mode": pick(["ro", "rw"], ["wo"])},
        ),
        st.fixed_dictionaries(
            {
                "file_system": pick(["fsx", "efs"], ["s3"]),
                "path": pick(["datasets/c10", "/a/b/", ""], ["../x", "\n"]),
            },
            optional={"file_system_access_mode": pick(["ro", "rw"])},
        ),
    )
    hp_keys = texts if chaos else st.text(min_size=1, max_size=20)
    hp_plain = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    hps = st.dictionaries(hp_keys, json_values if chaos else hp_plain | st.text(max_size=20), max_size=6)
    estimator = st.fixed_dictionaries(
        {
            "entry_point": pick(["train.py", "sub/train.py", "train_ddp.py"], ["/abs.py", "s3://x/y.py", ""]),
            "image_uri": pick(
                ["ddp", "horovod", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"],
                ["dpp", "x" * 300 + "/y"],
            ),
            "instance_type": pick(
                ["ml.g5.xlarge", "ml.p4d.24xlarge", "ml.p3.16xlarge", "ml.c5.2xlarge"], ["ml.foo.bar", "g5"]
            ),
            "instance_count": pick([1, 2, 8], [0, -1, True]),
        },
        optional={
            "source_dir": pick(
                ["s3://my-code/src.tar.gz", "src", "/abs/src"], ["s3://my-code/dir/", "gs://x"]
            ),
            "framework_version": pick(["2.2.0", "1.13", "2.9", "2.15", "1.2"], ["two", "2.8"]),
            "py_version": pick(["py3", "py310"], ["py27"]),
            "role": pick(["arn:aws:iam::123456789012:role/r"], ["arn:aws:iam::1:role/r", "role"]),
            "volume_size": pick([30, 100], [0]),
            "distribution": pick(STRATEGIES_OK, STRATEGIES_BAD),
            "hyperparameters": hps,
            "environment": st.dictionaries(
                pick_key(["NCCL_DEBUG", "A_1", "_X"], ["1A", "a-b", ""]),
                pick(["1", "", "x y"], ["v" * 600]),
                max_size=4,
            ),
            "use_spot_instances": pick([True, False]),
            "max_run": pick([60, 3600, 86400], [0, -1]),
            "max_wait": pick([60, 3600, 7200, 100_000], [0]),
            "checkpoint_s3_uri": s3_uris,
            "checkpoint_local_path": pick(["/opt/ml/checkpoints"], ["ckpt", "/" + "c" * 5000]),
            "keep_alive_period_in_seconds": pick([0, 900, 21600], [-1, 21601]),
            "max_retry_attempts": pick([1, 3, 30], [0, 31]),
            "metric_definitions": st.lists(
                st.fixed_dictionaries(
                    {
                        "Name": pick(["loss", "acc"], ["", "\n"]),
                        "Regex": pick(["loss=([0-9.]+)", "a(b)c"], ["(", "x"]),
                    }
                ),
                max_size=3,
            ),
            "subnets": pick([["subnet-1"], ["subnet-1", "subnet-2"]], [["subnet_bad"], ["s" * 40], []]),
            "security_group_ids": pick([["sg-1"]], [["sg bad"], [f"sg-{i}" for i in range(6)]]),
            "enable_network_isolation": pick([True, False]),
            "encrypt_inter_container_traffic": pick([True, False]),
            "output_path": s3_uris,
            "base_job_name": pick(["cifar", "my-job"], ["bad_name", "a" * 70]),
            "tags": st.one_of(
                st.dictionaries(
                    pick_key(["team", "a b", "k:1"], ["aws:x", ";"]),
                    pick(["v", "", "é"], ["a;b"]),
                    max_size=3,
                ),
                st.lists(
                    st.fixed_dictionaries(
                        {"Key": pick(["team", "x"], ["aws:a"]), "Value": pick(["v"], ["<"])}
                    ),
                    max_size=3,
                ),
            ),
            "input_mode": pick(modes_ok, ["Stream"]),
            **({"estimator_typo": json_values} if chaos else {}),
        },
    )
    names = ["train", "test", "code", "val-1"] + (["bad name", "x" * 70] if chaos else [])
    objective = st.fixed_dictionaries(
        {"metric": pick(["train:loss", "loss"], ["", "nope"])},
        optional={"goal": pick(["maximize", "minimize"], ["max"])},
    )
    return st.fixed_dictionaries(
        {"framework": pick(["pytorch", "tensorflow"], ["torch"]), "estimator": estimator},
        optional={
            "job_name": pick(["job-1", "a" * 40, "x"], ["a" * 64, "bad_name"]),
            "inputs": st.dictionaries(st.sampled_from(names), channel, max_size=4),
            "sweep": st.fixed_dictionaries(
                {"overrides": st.lists(hps, min_size=1, max_size=3), "objective": objective},
                optional={"max_concurrency": pick([1, 2], [0])},
            ),
        },
    )


def _coherent(spec: dict[str, Any]) -> dict[str, Any]:
    """Make a plausible spec satisfy the cross-field rules, so that many of them build."""
    est = spec["estimator"]
    est.setdefault("role", "arn:aws:iam::123456789012:role/r")
    est.setdefault("output_path", "s3://my-output/jobs")
    if "max_wait" in est or est.get("use_spot_instances"):
        est["use_spot_instances"] = True
        est["max_wait"] = max(est.get("max_wait", 0), est.get("max_run", 86400))
    if ("subnets" in est) != ("security_group_ids" in est):
        est.setdefault("subnets", ["subnet-1"])
        est.setdefault("security_group_ids", ["sg-1"])
    if isinstance(est.get("tags"), list):
        est["tags"] = list({t["Key"]: t for t in est["tags"]}.values())
    strategy = next(iter(est.get("distribution", {})), None)
    if strategy in ("parameter_server", "multi_worker_mirrored_strategy"):
        spec["framework"] = "tensorflow"
        est["framework_version"] = "2.15"
    elif strategy in ("torch_distributed", "pytorchddp"):
        spec["framework"] = "pytorch"
    elif strategy == "smdistributed":
        est["instance_type"] = "ml.p4d.24xlarge"
    return spec


specs = st.one_of(spec_strategy(chaos=False).map(_coherent), spec_strategy(chaos=True))


def _check(spec: object, platform: PlatformSettings | None) -> str:
    """'refused' or 'built'; any other outcome fails the test."""
    try:
        parsed = parse_spec(spec)  # type: ignore[arg-type]
        request = build_training_job_request(parsed, platform, region="us-east-1")
    except RequestValidationError as exc:  # a gap: the spec checks should have refused it
        raise AssertionError(f"request failed the model check: {exc}") from exc
    except SpecErrors as exc:
        assert exc.errors and all(e.field and e.rule for e in exc.errors)
        return "refused"
    except SpecError as exc:
        assert exc.field and exc.rule
        return "refused"
    assert request_problems(request) == []
    json.dumps(request)  # serialisable as the Lambda and the CLI send it
    return "built"


@CI
@given(spec=specs, with_platform=st.booleans())
def test_random_specs_are_refused_or_valid(spec: dict[str, Any], with_platform: bool) -> None:
    event(_check(spec, PLATFORM if with_platform else None))


def _mutate(spec: Any, data: st.DataObject) -> Any:
    """Delete, replace or add one key somewhere in the spec, or change a leaf's type."""
    spec = copy.deepcopy(spec)
    node = spec
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict | list):
            break
        if isinstance(node[key], list):
            break
        node = node[key]
    if not isinstance(node, dict):
        return spec
    action = data.draw(st.sampled_from(["delete", "replace", "add", "typo"]))
    keys = sorted(node)
    if action == "delete" and keys:
        del node[data.draw(st.sampled_from(keys))]
    elif action == "replace" and keys:
        node[data.draw(st.sampled_from(keys))] = data.draw(json_values)
    elif action == "typo" and keys:
        key = data.draw(st.sampled_from(keys))
        node[key[:-1] or "x"] = node.pop(key)
    else:
        node[data.draw(st.sampled_from([*ESTIMATOR_KEYS, "x", "inputs", "sweep"]))] = data.draw(json_values)
    return spec


@CI
@given(index=st.integers(0, len(EXAMPLE_SPECS) - 1), data=st.data(), with_platform=st.booleans())
def test_mutated_examples_are_refused_or_valid(index: int, data: st.DataObject, with_platform: bool) -> None:
    spec = EXAMPLE_SPECS[index]
    for _ in range(data.draw(st.integers(1, 3))):
        spec = _mutate(spec, data)
    event(_check(spec, PLATFORM if with_platform else None))


def test_the_generators_reach_both_outcomes() -> None:
    # Guard against a generator that only ever produces refusals (a vacuous property).
    outcomes = {_check(spec, PLATFORM) for spec in EXAMPLE_SPECS}
    assert outcomes == {"built"}
    assert _check({"framework": "pytorch"}, PLATFORM) == "refused"


@CI
@given(spec=specs)
def test_specs_the_parser_accepts_conform_to_the_schema(spec: dict[str, Any]) -> None:
    # The schema editors use must never flag a spec that dtrain accepts.
    try:
        parse_spec(spec)
    except (SpecError, SpecErrors):
        return
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _SCHEMA.iter_errors(spec)]
    assert errors == []
