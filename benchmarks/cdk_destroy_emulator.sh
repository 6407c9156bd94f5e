#!/usr/bin/env bash
# `cdk destroy --all` against `dtrain emulate` with an object left in the data bucket: the CLI must
# fail as against CloudFormation (DtrainStorage DELETE_FAILED, the data bucket kept, no other
# bucket re-created), issue 30. Starts its own emulator (free port, own state dir), prints the
# CLI's verdict, each stack's status and the buckets before and after, stops the emulator.
# About 2 minutes on a loaded 2-core machine. Usage: benchmarks/cdk_destroy_emulator.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD CDK_DISABLE_CLI_TELEMETRY=true
work=$(mktemp -d)
export DTRAIN_STATE_DIR=$work/state
port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
trap '.venv/bin/dtrain emulate down --port "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

.venv/bin/dtrain emulate up --port "$port" --workdir "$work/emu" | tail -1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator \
       AWS_DEFAULT_REGION=us-east-1
.venv/bin/python - <<'PY'
import json

import boto3

(stack,) = boto3.client("cloudformation").describe_stacks(StackName="DtrainOrchestration")["Stacks"]
settings = json.loads(next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "PlatformSettings"))
bucket = settings["data_s3_uri"].removeprefix("s3://").split("/")[0]
boto3.client("s3").put_object(Bucket=bucket, Key="cifar10/train/part-0", Body=b"x")
print("buckets before:", sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]))
PY
(cd "$work" && "$OLDPWD/node_modules/.bin/cdk" bootstrap aws://123456789012/us-east-1 2>&1 | grep -E "✅|❌")
npx --no-install cdk destroy --all --force -c emulator=true -c removal_policy=destroy --output "$work/cdk.out" \
    >"$work/destroy.log" 2>&1
echo "cdk destroy exit: $?"
grep -E "❌|✅" "$work/destroy.log"
.venv/bin/python - <<'PY'
import boto3

for s in boto3.client("cloudformation").list_stacks()["StackSummaries"]:
    print(f"{s['StackName']:20} {s['StackStatus']}")
print("buckets after:", sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]))
PY
uptime
