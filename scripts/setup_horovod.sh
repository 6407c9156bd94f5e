#!/usr/bin/env bash
# Creates the TensorFlow + PyTorch + Horovod virtualenv the Horovod and TensorFlow tests run in.
#   bash scripts/setup_horovod.sh VENV_DIR
# Horovod 0.28.1 is published as an sdist only, and its PyTorch extension needs upstream fixes to
# build against torch >= 2.1 (C++17; training_code/horovod/patches/). So the script downloads the
# sdist, applies the patch (any hunk that does not apply stops it), and builds ONE wheel with both
# the TensorFlow and the PyTorch extensions, once per (Horovod, patch, TensorFlow, torch, Python)
# into a cache outside the clone; later runs install it from there. Re-running on a finished venv
# is a no-op. Packages are installed with uv (scripts/uv_install.py; the Makefile installs uv
# first), the wheel is built by pip.
set -euo pipefail

VENV_DIR="${1:?usage: setup_horovod.sh VENV_DIR}"
PY="${PY:-python3.11}"
HOROVOD_VERSION="0.28.1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
REQUIREMENTS="${REPO}/requirements-horovod.txt"
PATCH="${REPO}/training_code/horovod/patches/horovod-${HOROVOD_VERSION}-torch-cxx17.patch"
TF_VERSION="$(sed -n 's/^tensorflow-cpu==//p' "${REQUIREMENTS}")"
TORCH_VERSION="$(sed -n 's/^torch==//p' "${REQUIREMENTS}")"
PY_TAG="$("${PY}" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
PATCH_TAG="$(sha256sum "${PATCH}" | cut -c1-12)"
# The wheel links against TensorFlow's and torch's C++ ABIs and carries the patch: the cache key
# names all of them, so a wheel built otherwise (e.g. the earlier TF-only one) is never reused.
CACHE_DIR="${XDG_CACHE_HOME:-${HOME}/.cache}/dtrain/wheels/horovod-${HOROVOD_VERSION}-p${PATCH_TAG}-tf${TF_VERSION}-torch${TORCH_VERSION}-${PY_TAG}"

log() { echo "[setup_horovod] $*"; }

already_installed() {
  [ -x "${VENV_DIR}/bin/python" ] && "${VENV_DIR}/bin/python" - "${HOROVOD_VERSION}" "${TF_VERSION}" "${TORCH_VERSION}" <<'PY' 2>/dev/null
import sys
import horovod
import tensorflow as tf
import torch
import horovod.tensorflow.keras as hvd_keras  # fails when the TF extension was not built
import horovod.torch as hvd_torch  # fails when the torch extension was not built

ok = (
    horovod.__version__ == sys.argv[1]
    and tf.__version__ == sys.argv[2]
    and torch.__version__.split("+")[0] == sys.argv[3]
    and all(m.mpi_built() and m.gloo_built() for m in (hvd_keras, hvd_torch))
)
sys.exit(0 if ok else 1)
PY
}

for tool in mpicxx cmake patch; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    log "${tool} not found: run scripts/install_system_deps.sh first" >&2
    exit 1
  fi
done

export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x "${VENV_DIR}/bin/python" ]; then
  log "creating ${VENV_DIR} with ${PY}"
  "${PY}" -m venv "${VENV_DIR}"
fi
# Byte-compiled at install, as the image's packages are: local mode runs this venv with the image's
# PYTHONDONTWRITEBYTECODE=1, where a module without its .pyc is compiled again at every import.
install() { "${VENV_DIR}/bin/python" "${HERE}/uv_install.py" -q --compile-bytecode "$@"; }
log "installing tensorflow-cpu ${TF_VERSION}, torch ${TORCH_VERSION} and Horovod's dependencies into ${VENV_DIR}"
install -r "${REQUIREMENTS}"
# The image's TensorFlow toolkit (its `train` hands over to it); its numpy < 1.24 pin is for
# TensorFlow 2.12, the image's, not this venv's 2.15.
install --no-deps sagemaker-tensorflow-training==20.5.0
# The pins may have changed under a finished venv (uv makes this a no-op when they have not).
if already_installed; then
  log "${VENV_DIR} already has Horovod ${HOROVOD_VERSION} with TensorFlow ${TF_VERSION} and torch ${TORCH_VERSION}"
  exit 0
fi

shopt -s nullglob
wheels=("${CACHE_DIR}"/horovod-"${HOROVOD_VERSION}"-*.whl)
if [ "${#wheels[@]}" -eq 0 ]; then
  log "building the Horovod ${HOROVOD_VERSION} wheel (TensorFlow + PyTorch; several minutes, once) into ${CACHE_DIR}"
  mkdir -p "${CACHE_DIR}"
  build_dir="$(mktemp -d)"
  trap 'rm -rf "${build_dir}"' EXIT
  "${VENV_DIR}/bin/pip" download -q --no-deps --no-binary :all: --dest "${build_dir}" "horovod==${HOROVOD_VERSION}"
  tar -xzf "${build_dir}/horovod-${HOROVOD_VERSION}.tar.gz" -C "${build_dir}"
  src="${build_dir}/horovod-${HOROVOD_VERSION}"
  # --fuzz=0 --forward: a hunk that does not apply exactly fails the set-up instead of building an
  # unpatched (or half-patched) Horovod.
  if ! patch -d "${src}" -p1 --fuzz=0 --forward --batch <"${PATCH}"; then
    log "patch ${PATCH} does not apply to the Horovod ${HOROVOD_VERSION} sdist" >&2
    exit 1
  fi
  # No build isolation: Horovod's setup imports the installed TensorFlow and torch to find their
  # headers and compile flags (and the sdist has no pyproject.toml). No pip cache: pip would hand
  # back any Horovod wheel it built before, whatever HOROVOD_WITH_* flags that build had.
  # CMAKE_POLICY_VERSION_MINIMUM: CMake >= 4 rejects Gloo's cmake_minimum_required(2.8.12).
  started=$(date +%s)
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 \
    HOROVOD_WITHOUT_MXNET=1 CMAKE_POLICY_VERSION_MINIMUM=3.5 \
    MAKEFLAGS="-j$(nproc)" \
    "${VENV_DIR}/bin/pip" wheel -q --no-deps --no-build-isolation --no-cache-dir \
    --wheel-dir "${build_dir}/dist" "${src}"
  log "wheel built in $(($(date +%s) - started))s"
  # Move into place only when the build finished, so an interrupted build leaves no half wheel.
  mv "${build_dir}"/dist/horovod-*.whl "${CACHE_DIR}/"
  wheels=("${CACHE_DIR}"/horovod-"${HOROVOD_VERSION}"-*.whl)
else
  log "using cached wheel ${wheels[0]}"
fi
install --no-deps --reinstall "${wheels[0]}"

if ! already_installed; then
  log "Horovod ${HOROVOD_VERSION} installed but its TensorFlow or PyTorch extension does not load" >&2
  exit 1
fi
log "done: ${VENV_DIR} has Horovod ${HOROVOD_VERSION} (TensorFlow ${TF_VERSION}, PyTorch ${TORCH_VERSION}, MPI, Gloo)"
