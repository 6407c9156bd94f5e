#!/usr/bin/env bash
# The real-deploy commands of docs/platform-team.md against `dtrain emulate`: `cdk bootstrap` and
# `cdk deploy --all` through AWS_ENDPOINT_URL, timed. Starts its own emulator (free port, own
# state dir), deploys the app a second time under another stack prefix (the emulator already
# holds the Dtrain* stacks `up` created), prints each stack's status and stops the emulator.
# About 2-3 minutes on a loaded 2-core machine (synth is most of it). Usage: benchmarks/cdk_deploy_emulator.sh
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
uptime
