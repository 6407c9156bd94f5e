"""A team's guardrails and sweep past its quota, run on the deployed platform (issue 29): the
guardrail rows (direct creates as the Submit role, decided by the deployed policies) and the quota
driver with its timeline, shared by tests/e2e/teams/test_team_guardrails_e2e.py (asserts them) and
benchmarks/team_quota_wait.py (prints them for the closing note).

The sweep runs on team vision's state machine, one instance per item, wider than vision's
`quota_instances`. The driver plays SageMaker for its own executions only: each job the ledger
holds for the sweep's execution (or the nlp execution it starts) is completed after it has run
for `run_s` (so jobs overlap as long as the quota lets them), once vision has held its whole
quota at once (or after `hold_s`: a quota never reached then shows in `most_at_once`). Other
jobs in the emulator are left alone, so tests that share the deployment keep theirs (a job
another test left waiting is neither completed here nor counted). Once vision is at its quota
the driver starts one job of team nlp (no quota) while vision's items wait: nlp's job must be
created at once. The timeline records when each job was created and completed, and the most
vision jobs running at once.

The sweep measures vision's quota, so it starts only once vision's count holds nothing (a job
of an earlier test still ending gives its instances back first); see `wait_until_team_holds_nothing`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from dtrain.emulator import Emulator
from dtrain.emulator.authz.authorizer import AccessDenied, Principal
from dtrain.emulator.authz.calls import Call, checks_for
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.team_capacity import TeamCapacity, capacity_key
from dtrain.team_names import output_id, resource_prefix
from tests.e2e.teams.team_platform import data_bucket, team_spec


@dataclass(frozen=True)
class GuardrailRow:
    action: str
    team: str
    resources: dict[str, Any]
    expected: str  # "allowed" or "AccessDenied"
    statement: str = ""  # the statement expected to deny it


# CreateTrainingJob as the Submit Lambda's role, as a Submit whose own checks were bypassed would
# send it, against vision's limits (team_platform.TEAM_SETTINGS; nlp has none).
GUARDRAIL_ROWS = (
    GuardrailRow(
        "vision: 1 x ml.p5.48xlarge",
        "vision",
        {"InstanceType": "ml.p5.48xlarge"},
        "AccessDenied",
        "TeamVisionInstanceTypes",
    ),
    GuardrailRow(
        "vision: max_run 28 days", "vision", {"max_run": 28 * 86400}, "AccessDenied", "TeamVisionMaxRun"
    ),
    GuardrailRow(
        "vision: warm pool 3600 s",
        "vision",
        {"KeepAlivePeriodInSeconds": 3600},
        "AccessDenied",
        "TeamVisionWarmPool",
    ),
    GuardrailRow(
        "vision: ml.g5.xlarge, 1 day, warm pool 600 s",
        "vision",
        {"max_run": 86400, "KeepAlivePeriodInSeconds": 600},
        "allowed",
    ),
    GuardrailRow(
        "nlp (no limits): ml.p5.48xlarge, 28 days",
        "nlp",
        {"InstanceType": "ml.p5.48xlarge", "max_run": 28 * 86400},
        "allowed",
    ),
)


def submit_role(emu: Emulator, team: str) -> Principal:
    """The role of the team's own Submit Lambda (`Team<Team>SubmitJob`: one per team)."""
    head = f"{output_id(team, '')}SubmitJob"
    (arn,) = [r["Arn"] for r in emu.client("iam").list_roles()["Roles"] if head in r["RoleName"]]
    return Principal(arn, session="submit")


def run_guardrail_row(emu: Emulator, row: GuardrailRow) -> tuple[str, str]:
    """(got: "allowed" or "AccessDenied", the statement the policy engine says denied it)."""
    resources = {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30, **row.resources}
    max_run = resources.pop("max_run", 3600)
    params = {
        "TrainingJobName": f"dtrain-{row.team}-direct-1",
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
        "RoleArn": emu.output_of("DtrainTraining", output_id(row.team, "ExecutionRoleArn")),
        "OutputDataConfig": {"S3OutputPath": "s3://x/y"},
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": max_run},
    }
    principal, authz = submit_role(emu, row.team), emu.authz
    try:
        authz.authorize_call(principal, "sagemaker", "CreateTrainingJob", params, emu.region)
    except AccessDenied:
        (check,) = [
            c
            for c in checks_for(
                authz.state, Call("sagemaker", "CreateTrainingJob", params, emu.region, emu.account)
            )
            if c.action == "sagemaker:CreateTrainingJob"
        ]
        reasons = authz.decide(principal, check).reasons
        sid = next((str(r.get("statementId")) for r in reasons if r.get("denialType") == "Explicit"), "")
        return "AccessDenied", sid
    return "allowed", ""


@dataclass
class QuotaTimeline:
    items: int
    quota: int
    statuses: list[str] = field(default_factory=list)  # vision's sweep items' job statuses
    execution_status: str = ""
    most_at_once: int = 0
    # job name -> (created, completed) seconds since the sweep started
    jobs: dict[str, tuple[float, float]] = field(default_factory=dict)
    other_team_job_created_s: float | None = None  # nlp's job, started while vision waited
    other_team_started_s: float | None = None
    other_team_status: str = ""
    wall_s: float = 0.0

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            (name, f"{a:.1f}", f"{b:.1f}") for name, (a, b) in sorted(self.jobs.items(), key=lambda kv: kv[1])
        ]


def run_quota_sweep(
    emu: Emulator, *, items: int, quota: int, run_s: float = 1.0, hold_s: float = 60.0, timeout_s: float = 900
) -> QuotaTimeline:
    bucket = data_bucket(emu)
    sfn = emu.client("stepfunctions")
    ledger = emu.ledger()  # one client for the whole loop (a boto3 client costs ms to make)
    wait_until_team_holds_nothing(ledger, "vision")
    timeline = QuotaTimeline(items=items, quota=quota)
    start = time.monotonic()
    vision = sfn.start_execution(
        stateMachineArn=emu.output(output_id("vision", "StateMachineArn")),
        name=f"quota-sweep-{int(time.time())}",
        input=json.dumps(team_spec(bucket, "vision", items)),
    )["executionArn"]
    nlp: str | None = None
    at_quota = False  # vision has held its whole quota at once
    seen: dict[str, float] = {}
    done: set[str] = set()
    deadline = start + timeout_s
    while time.monotonic() < deadline:
        now = time.monotonic() - start
        mine = [vision] if nlp is None else [vision, nlp]
        running = [n for n in own_jobs(emu, ledger, mine) if n not in done]
        for name in running:
            seen.setdefault(name, now)
        vision_running = [n for n in running if n.startswith("dtrain-vision-")]
        timeline.most_at_once = max(timeline.most_at_once, len(vision_running))
        at_quota = at_quota or len(vision_running) >= quota
        if nlp is None and at_quota:
            # vision is at its quota, its other items wait: another team's job must not.
            nlp = sfn.start_execution(
                stateMachineArn=emu.output(output_id("nlp", "StateMachineArn")),
                name=f"nlp-beside-{int(time.time())}",
                input=json.dumps(team_spec(bucket, "nlp", 1)),
            )["executionArn"]
            timeline.other_team_started_s = now
        for name in running:
            if name.startswith("dtrain-nlp-") and timeline.other_team_job_created_s is None:
                timeline.other_team_job_created_s = seen[name]
            # A job runs until vision has been at its quota once (or for hold_s): on a loaded
            # machine Submit may create the items more than run_s apart, and jobs that end before
            # the next one starts would never fill the quota the sweep is there to meet.
            if now - seen[name] >= run_s and (at_quota or now - seen[name] >= hold_s):
                emu.sagemaker.complete(name, metrics={"validation:accuracy": 0.5})
                done.add(name)
                timeline.jobs[name] = (seen[name], time.monotonic() - start)
        status = sfn.describe_execution(executionArn=vision)["status"]
        other = sfn.describe_execution(executionArn=nlp)["status"] if nlp else "never started"
        if status != "RUNNING" and other != "RUNNING":
            break
        time.sleep(0.1)
    final = emu.wait_execution(vision, timeout=60)
    timeline.execution_status = final["status"]
    if final["status"] == "SUCCEEDED":
        timeline.statuses = [str(r.get("status")) for r in json.loads(final["output"])["results"]]
    if nlp:
        timeline.other_team_status = emu.wait_execution(nlp, timeout=60)["status"]
    timeline.wall_s = time.monotonic() - start
    return timeline


def own_jobs(emu: Emulator, ledger: Ledger, executions: list[str]) -> list[str]:
    """The jobs Submit created for `executions` (their ledger rows whose job exists), not every
    job of an emulator that other tests share. A row is written before its create, so a job
    still waiting for capacity is not among them until SageMaker has it."""
    return [
        row.job_name
        for arn in executions
        for row in ledger.find_by_execution(arn)
        if row.job_name in emu.sagemaker.jobs
    ]


def wait_until_team_holds_nothing(ledger: Ledger, team: str, timeout_s: float = 60.0) -> None:
    """Wait until `team`'s capacity count (dtrain.orchestration.team_capacity) holds no job: a
    job another test stopped gives its instances back when its Stopped event is recorded. Raises
    naming the holders if they stay, rather than measure a quota that someone else's job fills."""
    key = capacity_key(resource_prefix("dtrain", team))
    count = TeamCapacity(ledger.client, ledger.table_name, key, quota=0)  # read only: holders()
    deadline = time.monotonic() + timeout_s
    while holders := count.holders():
        if time.monotonic() > deadline:
            raise TimeoutError(f"team {team}'s quota is still held by {holders} after {timeout_s} s")
        time.sleep(0.1)
