#!/usr/bin/env bash
# Builds both packaged images and runs each one's real entry chain inside it, where Docker exists
# (not in CI here: no Docker). For each image: a one-host job's /opt/ml (tiny CIFAR-10 sample,
# checkpoints only at SIGTERM) is mounted into `docker run <image> train` as SageMaker starts it;
# once the ranks log steps, `docker kill --signal TERM` signals PID 1 (tini) as StopTrainingJob
# does; the script checks that a checkpoint landed and reports the container's exit code.
#
#   scripts/build_images.sh [--no-run]
#   env: REGION (us-east-1), DLC_ACCOUNT (the region's, from dtrain.jobspec.inference_images.DLC_ACCOUNTS),
#        BASE_DIGEST (skip the lookup: sha256:... of the DLC tag), GPUS (e.g. "--gpus all")
#
# Needs docker, and for the ddp image AWS credentials that may pull from the DLC registry (any
# account may): the script runs the `docker login` that `cdk deploy` needs too (docs/training-containers.md,
# "Building the images").
set -euo pipefail
cd "$(dirname "$0")/.."
REGION="${REGION:-us-east-1}"
# The region's DLC registry, from the table the stack uses (AWS's published accounts per region).
read -r TABLE_ACCOUNT DLC_DNS_SUFFIX < <(python3 -c '
import sys
sys.path.insert(0, ".")
from dtrain.jobspec.inference_images import dlc_build_args
args = dlc_build_args(sys.argv[1])
print(args["DLC_ACCOUNT"], args["DLC_DNS_SUFFIX"])' "${REGION}")
DLC_ACCOUNT="${DLC_ACCOUNT:-${TABLE_ACCOUNT}}"
RUN=1
[[ "${1:-}" == "--no-run" ]] && RUN=0
command -v docker >/dev/null || { echo "build_images.sh: docker not found" >&2; exit 2; }

REGISTRY="${DLC_ACCOUNT}.dkr.ecr.${REGION}.${DLC_DNS_SUFFIX}"
aws ecr get-login-password --region "${REGION}" | docker login --username AWS --password-stdin "${REGISTRY}"

# The DLC base pinned by digest: the tag the Dockerfile names, resolved once here and passed in.
BASE_TAG="$(sed -n 's/^ARG BASE_TAG=//p' training_code/ddp/Dockerfile)"
if [[ -z "${BASE_DIGEST:-}" ]]; then
  BASE_DIGEST="$(aws ecr batch-get-image --region "${REGION}" --registry-id "${DLC_ACCOUNT}" \
    --repository-name pytorch-training --image-ids "imageTag=${BASE_TAG}" \
    --query 'images[0].imageId.imageDigest' --output text)"
fi
echo "ddp base: ${REGISTRY}/pytorch-training:${BASE_TAG}@${BASE_DIGEST}"

docker build -f training_code/ddp/Dockerfile -t dtrain-ddp:local \
  --build-arg "REGION=${REGION}" --build-arg "DLC_ACCOUNT=${DLC_ACCOUNT}" --build-arg "DLC_DNS_SUFFIX=${DLC_DNS_SUFFIX}" \
  --build-arg "BASE_DIGEST=@${BASE_DIGEST}" training_code
docker build -f training_code/horovod/Dockerfile -t dtrain-horovod:local training_code
[[ "${RUN}" == 1 ]] || exit 0

PY=.venv/bin/python
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
PYTHONPATH="${PWD}" "${PY}" -c "from dtrain.commands.data_cmd import make_cifar10_sample as m; from pathlib import Path; m(Path('${WORK}/data'), train=256, test=64)"

chain() {  # image distribution ranks
  local image="$1" distribution="$2" ranks="$3" base name
  base="$(PYTHONPATH="${PWD}" "${PY}" -m dtrain.local.entry_chain "${image}" "${distribution}" "${ranks}" \
    "${WORK}/data" "${WORK}/${image}")"
  name="dtrain-chain-${image}-$$"
  # shellcheck disable=SC2086  # GPUS is a list of docker options
  docker run -d --name "${name}" --hostname algo-1 ${GPUS:-} -v "${base}:/opt/ml" "dtrain-${image}:local" train >/dev/null
  until docker logs "${name}" 2>&1 | grep -q 'step=3\b'; do
    if [[ "$(docker inspect -f '{{.State.Running}}' "${name}")" != true ]]; then
      docker logs "${name}" 2>&1 | tail -40; docker rm -f "${name}" >/dev/null; return 1
    fi
    sleep 1
  done
  docker kill --signal TERM "${name}" >/dev/null
  local code; code="$(docker wait "${name}")"
  docker logs "${name}" 2>&1 | grep -E 'SIGTERM: stopping|checkpoint step-' || true
  docker rm "${name}" >/dev/null
  if ls "${base}/checkpoints"/step-*.ckpt >/dev/null 2>&1; then
    echo "${image} ${distribution}: checkpoint on SIGTERM to PID 1 ($(ls "${base}/checkpoints")), exit ${code}"
  else
    echo "${image} ${distribution}: NO checkpoint after SIGTERM to PID 1 (exit ${code})" >&2; return 1
  fi
}
chain ddp torch_distributed 2
chain horovod mpi 2
