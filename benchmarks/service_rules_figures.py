"""Figures for the service-side rule catalogue (dtrain/jobspec/service_rules.py) and the S3 reach check.

    .venv/bin/python benchmarks/service_rules_figures.py [--deployed]

1. every rule and note with its source;
2. which rules the SDK parity cases exercise: the requests of tests/dtrain/test_sdk_parity.py
   (the ones proven equal to what SDK 2.220 sends) that touch each rule's subject, all accepted;
3. with --deployed: the whole app deployed into the emulator (as `make demo`), and for every
   example its request under those settings: service rules passed, S3 locations reachable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "dtrain")]

from dtrain.jobspec.platform import PlatformSettings  # noqa: E402
from dtrain.jobspec.service_rules import SERVICE_NOTES, SERVICE_RULES, service_rule_problems  # noqa: E402
from dtrain.jobspec.spec import load_spec, parse_spec  # noqa: E402
from dtrain.requests.training_request import build_training_job_request  # noqa: E402


def parity_requests() -> dict[str, dict[str, Any]]:
    import test_sdk_parity as parity

    out: dict[str, dict[str, Any]] = {}
    for case_id, (framework, estimator, inputs) in parity.CASES.items():
        spec = {"framework": framework, "estimator": estimator, "inputs": inputs}
        out[case_id] = build_training_job_request(
            parse_spec(spec), None, job_name=parity._job_name(case_id), region="us-east-1"
        )
    platform = PlatformSettings.from_dict(parity.PLATFORM)
    out["platform_filled"] = build_training_job_request(
        parse_spec(parity.PLATFORM_SPEC), platform, job_name=parity.PLATFORM_JOB
    )
    return out


def deployed_examples() -> None:
    from dtrain.emulator import Emulator
    from dtrain.emulator.platform_app import synth_for_emulator
    from dtrain.jobspec.s3_reach import check_reach, request_locations

    with tempfile.TemporaryDirectory() as tmp:
        assembly = synth_for_emulator(Path(tmp) / "cdk.out")
        with Emulator(assembly, announce=False) as emu:
            platform = PlatformSettings.from_json(emu.output("PlatformSettings"))
    print(
        f"\ndeployed emulator platform: data bucket {platform.data_s3_uri}, output {platform.output_s3_uri}"
    )
    for example in sorted((REPO / "examples").glob("*.json")):
        request = build_training_job_request(load_spec(example), platform)
        problems = service_rule_problems(request)
        check_reach(request, platform)
        locations = list(request_locations(request))
        print(
            f"  {example.name:34} {request['ResourceConfig']['InstanceType']:17} rules ok: {not problems}, "
            f"VolumeKmsKeyId: {'VolumeKmsKeyId' in request['ResourceConfig']}, "
            f"S3 locations reachable: {len(locations)}/{len(locations)}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployed", action="store_true", help="also deploy the app into the emulator")
    args = parser.parse_args()
    print(f"{len(SERVICE_RULES)} refusal rules, {len(SERVICE_NOTES)} notes")
    for rule in SERVICE_RULES:
        print(f"  rule {rule.name:36} {rule.source}")
    for note in SERVICE_NOTES:
        print(f"  note {note.name:36} {note.source}")
    requests = parity_requests()
    covered = 0
    print(f"\nSDK parity cases ({len(requests)} requests, each equal to SDK 2.220's):")
    for rule in SERVICE_RULES:
        cases = sorted(case for case, request in requests.items() if rule.applies(request))
        covered += bool(cases)
        print(f"  {rule.name:36} {', '.join(cases) or '-'}")
    assert all(service_rule_problems(r) == [] for r in requests.values())
    print(f"rules exercised by the parity cases: {covered}/{len(SERVICE_RULES)} (all accepted)")
    if args.deployed:
        deployed_examples()
    return 0


if __name__ == "__main__":
    sys.exit(main())
