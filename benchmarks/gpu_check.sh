#!/usr/bin/env bash
# Issue 18's GPU figures in one run, on a machine with nothing but python3 + torch + numpy:
#   1. trainer_bare_loop.py  the Trainer vs a bare loop doing identical work, eager and compiled
#   2. time_to_accuracy.py   train_ddp.py to the target val_acc on synthetic data, eager and compiled
# Synthetic data is made on the spot. Each step has its own time limit, so one that hangs still
# leaves the others' output. Output: $OUT/*.txt (default: a new temporary folder), also on stdout.
#
#   PYTHONUNBUFFERED=1 bash benchmarks/gpu_check.sh            # the GPU run (well under 6 min on an H100/H200)
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --quick   # the same steps, CPU-sized
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d -t dtrain-gpu-check-XXXX)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# torch.compile on a 2-core CPU takes minutes: the quick run checks the eager paths only.
if [ "${1:-}" = "--quick" ]; then
  BARE=(--quick --modes eager --repeats 1 --epochs 3)
  TTA=(--quick --epochs 4 --target 0.5)
  LIMIT_BARE=600 LIMIT_TTA=300 MODES=(eager)
else
  BARE=(--repeats 2 --epochs 6)
  TTA=(--epochs 10)
  LIMIT_BARE=210 LIMIT_TTA=80 MODES=(eager compiled)
  export TORCH_LOGS=recompiles  # a recompile after the prewarm would show here
fi

step() {  # step NAME LIMIT COMMAND...: runs COMMAND with a limit, output to $OUT/NAME.txt and stdout
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  local started=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
  echo "=== $name: exit ${PIPESTATUS[0]} after $((SECONDS - started))s"
}

{
  date -u
  uptime
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  "$PY" -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'available', torch.cuda.is_available(), 'numpy', numpy.__version__, 'cpus', torch.get_num_threads())"
} 2>&1 | tee "$OUT/environment.txt"

step trainer_bare_loop "$LIMIT_BARE" "$PY" benchmarks/trainer_bare_loop.py "${BARE[@]}"
for mode in "${MODES[@]}"; do
  flag=()
  [ "$mode" = compiled ] && flag=(--compile)
  step "time_to_accuracy_$mode" "$LIMIT_TTA" "$PY" benchmarks/time_to_accuracy.py "${TTA[@]}" "${flag[@]}"
done
echo "gpu_check: done at $(date -u +%H:%M:%S); output in $OUT"
