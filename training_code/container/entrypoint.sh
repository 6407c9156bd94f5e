#!/usr/bin/env bash
# The packaged images' entry point: SageMaker runs `docker run <image> train`, so this script gets
# "train" (the toolkit's console script) as its arguments. PID 1 is tini with -g (see the
# Dockerfiles): StopTrainingJob and spot interruption send SIGTERM to PID 1 only ("SageMaker sends
# the algorithm the SIGTERM signal, which delays job termination for 120 seconds",
# StopTrainingJob), on every host of the job, and tini -g forwards it to this script's process
# group. This script passes it on to the processes that must checkpoint, as follows.
#
# The trainers handle SIGTERM (training_code/common/stop_signal.py: checkpoint at the next step,
# exit 0). Everything between them and PID 1 must outlive them: the toolkit's `train` installs no
# handler and would die at once, and tini ends the container when its child ends, killing the
# ranks mid-checkpoint. So the toolkit runs with SIGTERM ignored (an ignored signal stays ignored
# across fork and exec; every process that installs its own handler, the trainers, torchrun, the
# TensorFlow toolkit's processes, gets it as usual), in a process group of its own, and on SIGTERM
# this script signals:
#
# - every process of the toolkit's process group (the trainer, torchrun, a parameter server), as
#   tini -g did when this script exec'ed the toolkit, EXCEPT Open MPI's launcher and what carries
#   it between hosts (mpirun, orted, ssh, sshd). Open MPI 4.1's mpirun answers SIGTERM by sending
#   the ranks SIGCONT, sleeping odls_base_sigkill_timeout, sending SIGTERM, sleeping again, then
#   SIGKILL and exit 1 (orte/mca/odls/base/odls_base_default_fns.c, kill_local_procs; strace of
#   the ddp chain: SIGTERM to the ranks 30 s after mpirun's). While it sleeps it forwards none of
#   the ranks' output, so a rank that logs blocks on its full stdout and never reaches its
#   checkpoint (the ddp image's pytorchddp stops lost their checkpoint that way). An ssh or sshd
#   that died would cut the link to another host's orted, and Open MPI would abort the job.
# - every MPI rank: Open MPI starts each in a process group of its own (outside the toolkit's
#   group), under mpirun here or under orted on a worker host, and puts OMPI_COMM_WORLD_RANK in
#   its environment. So each rank gets SIGTERM at once, on every host, with mpirun still
#   forwarding its output; once every rank has exited, mpirun exits 0 (and after_stop, below,
#   spares the toolkit's post-MPI waits).
set -euo pipefail

# The DLC's hostname fix builds ./changehostname.c, which the DLC put in /, and preloads
# /libchangehostname.so: it must run from /.
cd /

# Open MPI's launcher and its transport: never sent the stop (see above).
readonly MPI_CARRIERS=" mpirun orterun orted ssh sshd "
readonly STOP_SETTLE_S=3
toolkit=""
mpi_host=""

is_mpi_rank() {
  local variable
  while IFS= read -r -d '' variable; do
    [[ $variable == OMPI_COMM_WORLD_RANK=* ]] && return 0
  done <"/proc/$1/environ"
  return 1
}

# The processes under PID 1's tini (this script's parent) but this script, as "pid pgrp comm"
# lines: in a container every process of the job, a worker host's orted and ranks included (they
# do not descend from this script: a scan from here missed them); in local mode's plain process
# tree (no PID namespace, so /proc shows the whole machine) the job's processes only.
job_processes() {
  local dir pid line comm fields queue
  local -A children=() pgrps=() comms=()
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    read -r line 2>/dev/null <"$dir/stat" || continue
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    comm=${line#*(}
    comm=${comm%)*}
    read -r -a fields <<<"${line##*) }"
    children[${fields[1]}]+=" $pid"
    pgrps[$pid]=${fields[2]}
    comms[$pid]=$comm
  done
  queue=${children[$PPID]:-}
  while [[ -n ${queue// /} ]]; do
    read -r pid queue <<<"$queue"
    [[ $pid == "$$" ]] || echo "$pid ${pgrps[$pid]} ${comms[$pid]}"
    queue+=" ${children[$pid]:-}"
  done
}

forward_stop() {
  local pid pgrp comm
  while read -r pid pgrp comm; do
    [[ $pid == "$toolkit" ]] && continue
    if [[ $MPI_CARRIERS == *" $comm "* ]]; then
      [[ $comm == sshd ]] || mpi_host=1
    elif is_mpi_rank "$pid" 2>/dev/null; then
      mpi_host=1
      kill -TERM "$pid" 2>/dev/null || true
    elif [[ $pgrp == "$toolkit" ]]; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done < <(job_processes)
}

mpi_running() {
  local pid pgrp comm
  while read -r pid pgrp comm; do
    if [[ $comm != sshd && $MPI_CARRIERS == *" $comm "* ]] || is_mpi_rank "$pid" 2>/dev/null; then
      return 0
    fi
  done < <(job_processes)
  return 1
}

# After the stop, on a host that was running MPI: once its ranks, mpirun or orted, and the ssh
# links are gone (for STOP_SETTLE_S seconds), the toolkit only waits: the worker 30 s after orted
# and then for the master's "mpirun finished" file, which a failed or killed mpirun never sends;
# the master 30 s after writing that file (sagemaker_training/mpi.py WorkerRunner.run,
# MasterRunner.run; smdataparallel.py SMDataParallelRunner.run). The job is stopping and every host
# got the SIGTERM, so this host's part is over: end the toolkit instead of waiting out the grace.
# Exit 0, what the toolkit reports after those waits once mpirun succeeded (a failed mpirun makes
# the master's toolkit exit 1 at once, before the settle time).
after_stop() {
  local settled=0
  [[ -n $mpi_host ]] || return 0
  while kill -0 "$toolkit" 2>/dev/null; do
    if mpi_running; then settled=0; else settled=$((settled + 1)); fi
    if ((settled > STOP_SETTLE_S)); then
      echo "entrypoint.sh: stopped; this host's MPI processes have exited, ending the toolkit's wait"
      kill -KILL -- "-$toolkit" 2>/dev/null || true
      wait "$toolkit" 2>/dev/null || true
      exit 0
    fi
    sleep 1
  done
}

if [[ "${1:-}" == "train" && -n "${DTRAIN_HOSTNAME_FIX:-}" && -f "${DTRAIN_HOSTNAME_FIX}" ]]; then
  # The PyTorch DLC's own entry script (it runs `train` with the hostname fix). Without -m, which
  # the DLC's ENTRYPOINT uses: job control would give `train` a process group of its own.
  set -- bash "${DTRAIN_HOSTNAME_FIX}" "$@"
fi

# Ignored from here on in everything the toolkit starts; this script traps it once it has started.
trap '' TERM
setsid "$@" &
toolkit=$!
trap forward_stop TERM
stopping=""
while :; do
  status=0
  wait "$toolkit" || status=$?
  # A trapped signal ends `wait` early (status > 128) with the toolkit still running: the stop.
  kill -0 "$toolkit" 2>/dev/null || exit "$status"
  if [[ -z $stopping ]]; then
    stopping=1
    after_stop
  fi
done
