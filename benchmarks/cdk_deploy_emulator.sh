#!/usr/bin/env bash
# The real-deploy commands of docs/platform-team.md against `dtrain emulate`: `cdk bootstrap` and
# `cdk deploy --all` through AWS_ENDPOINT_URL, timed. Starts its own emulator (free port, own
# state dir), deploys the app a second time under another stack prefix (the emulator already
# holds the Dtrain* stacks `up` created), prints each stack's status, then runs a job on each of
# the two platforms (`dtrain submit examples/ddp_torchrun.json --stack <prefix>Orchestration
# --wait`, the sample data uploaded to each platform's data bucket), upgrades the Cdk platform
# with a second `cdk deploy` (a tag added to every resource: -c tags=...), runs a job on it again,
# adds a team with an instance-type allow-list (-c teams=...) with a third, runs a job of that team
# (--team vision, its data under teams/vision/), and stops the emulator. Several minutes on a loaded 2-core machine (the synths are most of it).
# Usage: benchmarks/cdk_deploy_emulator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD CDK_DISABLE_CLI_TELEMETRY=true
work=$(mktemp -d)
export DTRAIN_STATE_DIR=$work/state
port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
trap '.venv/bin/dtrain emulate down --port "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

t0=$(date +%s.%N)
.venv/bin/dtrain emulate up --port "$port" --workdir "$work/emu" | tail -1
t1=$(date +%s.%N)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator \
       AWS_DEFAULT_REGION=us-east-1
# Bootstrap needs no app: run it where there is no cdk.json.
(cd "$work" && "$OLDPWD/node_modules/.bin/cdk" bootstrap aws://123456789012/us-east-1 2>&1 | grep -E "✅|❌|Error")
t2=$(date +%s.%N)
npx --no-install cdk deploy --all --require-approval never -c emulator=true -c stack_prefix=Cdk \
    --output "$work/cdk.out" 2>&1 | grep -E "✅|❌|Error|time:"
t3=$(date +%s.%N)
.venv/bin/python - <<'PY'
import boto3

for s in boto3.client("cloudformation").describe_stacks()["Stacks"]:
    print(f"{s['StackName']:20} {s['StackStatus']}")
PY
printf 'emulate up %.1f s, cdk bootstrap %.1f s, cdk deploy --all %.1f s\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"

# A job on each platform, as a scientist submits it.
run_job() {  # $1: the orchestration stack, $2: the run's label (a new execution name each run), $3: a team
    local team_args=() prefix="cifar10"
    if [ -n "${3:-}" ]; then team_args=(--team "$3"); prefix="teams/$3/cifar10"; fi
    .venv/bin/python - "$1" "$prefix" <<'PY'
import json, sys
from pathlib import Path

import boto3

from dtrain.demo.emulated import data_bucket
from dtrain.demo.local_demo import DEMO_DATA, ensure_sample_data

(stack,) = boto3.client("cloudformation").describe_stacks(StackName=sys.argv[1])["Stacks"]
settings = json.loads(next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "PlatformSettings"))
ensure_sample_data(DEMO_DATA)
s3, bucket = boto3.client("s3"), data_bucket(settings)
for channel in ("train", "test"):
    for f in sorted(Path(DEMO_DATA).iterdir()):
        if f.is_file():
            s3.upload_file(str(f), bucket, f"{sys.argv[2]}/{channel}/{f.name}")
PY
    local t=$(date +%s.%N) rc=0
    .venv/bin/dtrain submit examples/ddp_torchrun.json --stack "$1" ${team_args[@]+"${team_args[@]}"} \
        --name "cifar10-$2-$(date +%s)" --wait \
        >"$work/$1-$2.out" 2>&1 || rc=$?
    printf '%-20s %-8s job: exit %s, %s, %.1f s\n' "$1" "$2" "$rc" \
        "$(grep -oE 'SUCCEEDED|FAILED|TIMED_OUT|ABORTED|refused' "$work/$1-$2.out" | tail -1)" \
        "$(echo "$(date +%s.%N) - $t" | bc)"
    if [ "$rc" != 0 ]; then tail -15 "$work/$1-$2.out"; fi
}
run_job DtrainOrchestration deployed
run_job CdkOrchestration deployed

# An upgrade through the CLI: a tag on every resource of the Cdk platform, deployed again.
t4=$(date +%s.%N)
npx --no-install cdk deploy --all --require-approval never -c emulator=true -c stack_prefix=Cdk \
    -c 'tags={"project":"dtrain","cost-center":"ml-42"}' --output "$work/cdk.out" 2>&1 | grep -E "✅|❌|Error|time:"
t5=$(date +%s.%N)
printf 'upgrade (tag) cdk deploy --all %.1f s\n' "$(echo "$t5 - $t4" | bc)"
run_job CdkOrchestration upgraded

# A new team with an instance-type allow-list (issue 29's teams), deployed again, and its job.
t6=$(date +%s.%N)
npx --no-install cdk deploy --all --require-approval never -c emulator=true -c stack_prefix=Cdk \
    -c 'tags={"project":"dtrain","cost-center":"ml-42"}' \
    -c 'teams={"vision":{"instance_types":["ml.g5.xlarge"],"max_instance_count":2}}' \
    --output "$work/cdk.out" 2>&1 | grep -E "✅|❌|Error|failed|time:"
t7=$(date +%s.%N)
printf 'upgrade (new team) cdk deploy --all %.1f s\n' "$(echo "$t7 - $t6" | bc)"
run_job CdkOrchestration team vision
.venv/bin/python - <<'PY'
import boto3

for s in boto3.client("cloudformation").describe_stacks()["Stacks"]:
    print(f"{s['StackName']:20} {s['StackStatus']}")
PY
uptime
