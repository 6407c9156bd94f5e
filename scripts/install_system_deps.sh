#!/usr/bin/env bash
# Installs the Debian packages the tests need (Open MPI for mpirun and, with Debian's cmake and
# patch, for the patched Horovod build; tini and
# iproute2 for the images' entry chain in namespaces, tests/training/test_entry_chain.py; OpenSSH's
# sshd, which the toolkit's MPI runners start at /usr/sbin/sshd; Java 17 for TorchServe, which
# serves PyTorch models as SageMaker's PyTorch inference image does, dtrain/serving/torchserve.py), once.
set -euo pipefail
if command -v mpirun >/dev/null 2>&1 && [ -f /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] \
  && command -v tini >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && [ -x /usr/sbin/sshd ] \
  && command -v cmake >/dev/null 2>&1 && command -v patch >/dev/null 2>&1 \
  && command -v java >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing Open MPI (openmpi-bin libopenmpi-dev), tini, iproute2, OpenSSH and Java 17 from Debian packages..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  openmpi-bin libopenmpi-dev tini iproute2 openssh-server openssh-client cmake patch \
  openjdk-17-jre-headless >/dev/null
