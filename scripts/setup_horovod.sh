#!/usr/bin/env bash
# Creates the TensorFlow + Horovod virtualenv the Horovod tests run in.
#   bash scripts/setup_horovod.sh VENV_DIR
# Horovod 0.28.1 is published as an sdist only, and compiling it takes minutes, so the wheel is
# built once per (Horovod, TensorFlow, Python) triple into a cache outside the clone and later runs
# install it from there. Re-running on a finished venv is a no-op.
set -euo pipefail

VENV_DIR="${1:?usage: setup_horovod.sh VENV_DIR}"
PY="${PY:-python3.11}"
HOROVOD_VERSION="0.28.1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQUIREMENTS="${HERE}/../requirements-horovod.txt"
TF_VERSION="$(sed -n 's/^tensorflow-cpu==//p' "${REQUIREMENTS}")"
PY_TAG="$("${PY}" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
# The wheel links against TensorFlow's C++ ABI: the cache key names the TF version it was built with.
CACHE_DIR="${XDG_CACHE_HOME:-${HOME}/.cache}/dtrain/wheels/horovod-${HOROVOD_VERSION}-tf${TF_VERSION}-${PY_TAG}"

log() { echo "[setup_horovod] $*"; }

already_installed() {
  [ -x "${VENV_DIR}/bin/python" ] && "${VENV_DIR}/bin/python" - "${HOROVOD_VERSION}" "${TF_VERSION}" <<'PY' 2>/dev/null
import sys
import horovod
import tensorflow as tf
import horovod.tensorflow.keras as hvd  # fails when the TF extension was not built

ok = horovod.__version__ == sys.argv[1] and tf.__version__ == sys.argv[2] and hvd.mpi_built() and hvd.gloo_built()
sys.exit(0 if ok else 1)
PY
}

if already_installed; then
  log "${VENV_DIR} already has Horovod ${HOROVOD_VERSION} with TensorFlow ${TF_VERSION}"
  exit 0
fi

if ! command -v mpicxx >/dev/null 2>&1; then
  log "Open MPI (mpicxx) not found: run scripts/install_system_deps.sh first" >&2
  exit 1
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x "${VENV_DIR}/bin/python" ]; then
  log "creating ${VENV_DIR} with ${PY}"
  "${PY}" -m venv "${VENV_DIR}"
fi
log "installing tensorflow-cpu ${TF_VERSION} and Horovod's dependencies into ${VENV_DIR}"
"${VENV_DIR}/bin/pip" install -q -r "${REQUIREMENTS}"

shopt -s nullglob
wheels=("${CACHE_DIR}"/horovod-"${HOROVOD_VERSION}"-*.whl)
if [ "${#wheels[@]}" -eq 0 ]; then
  log "building Horovod ${HOROVOD_VERSION} wheel (about 3 minutes, once) into ${CACHE_DIR}"
  mkdir -p "${CACHE_DIR}"
  build_dir="$(mktemp -d)"
  trap 'rm -rf "${build_dir}"' EXIT
  # No build isolation: Horovod's setup imports the installed TensorFlow to find its headers and
  # compile flags. No pip cache: pip would hand back any Horovod wheel it built before, whatever
  # HOROVOD_WITH_* flags that build had. PyTorch and MXNet are left out (Horovod's torch extension does not compile
  # against torch >= 2.1; see training_code/horovod/README section in the issue note).
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
    MAKEFLAGS="-j$(nproc)" \
    "${VENV_DIR}/bin/pip" wheel -q --no-deps --no-build-isolation --no-cache-dir \
    --wheel-dir "${build_dir}" "horovod==${HOROVOD_VERSION}"
  # Move into place only when the build finished, so an interrupted build leaves no half wheel.
  mv "${build_dir}"/horovod-*.whl "${CACHE_DIR}/"
  wheels=("${CACHE_DIR}"/horovod-"${HOROVOD_VERSION}"-*.whl)
else
  log "using cached wheel ${wheels[0]}"
fi
"${VENV_DIR}/bin/pip" install -q --no-deps --force-reinstall "${wheels[0]}"

if ! already_installed; then
  log "Horovod ${HOROVOD_VERSION} installed but its TensorFlow extension does not load" >&2
  exit 1
fi
log "done: ${VENV_DIR} has Horovod ${HOROVOD_VERSION} (TensorFlow, MPI, Gloo)"
