#!/usr/bin/env bash
# The packaged images' entry point: SageMaker runs `docker run <image> train`, so this script gets
# "train" (the toolkit's console script) as its arguments. PID 1 is tini with -g (see the
# Dockerfiles): StopTrainingJob and spot interruption send SIGTERM to PID 1 only, and tini -g
# forwards it to this script's whole process group, which is every process of the job: the
# toolkit's `train`, the launcher it starts (the shell, torchrun, mpirun) and the ranks.
#
# The ranks handle SIGTERM (training_code/common/stop_signal.py: checkpoint at the next step,
# exit 0). Everything between them and PID 1 must outlive them instead: the toolkit's `train`
# installs no handler and would die at once, and tini ends the container when its child ends,
# killing the ranks mid-checkpoint. So SIGTERM is ignored here: an ignored signal stays ignored
# across fork and exec, and every process that installs its own handler (the trainers, torchrun,
# mpirun) gets it as usual.
set -euo pipefail
trap '' TERM

# The DLC's hostname fix builds ./changehostname.c, which the DLC put in /, and preloads
# /libchangehostname.so: it must run from /.
cd /

if [[ "${1:-}" == "train" && -n "${DTRAIN_HOSTNAME_FIX:-}" && -f "${DTRAIN_HOSTNAME_FIX}" ]]; then
  # The PyTorch DLC's own entry script (it runs `train` with the hostname fix). Without -m, which
  # the DLC's ENTRYPOINT uses: job control would move `train` out of this process group.
  exec bash "${DTRAIN_HOSTNAME_FIX}" "$@"
fi
exec "$@"
