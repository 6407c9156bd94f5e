#!/usr/bin/env bash
# mypy (make lint) with its cache seeded from the last passing run on this machine, any checkout:
#   bash scripts/mypy_cached.sh .venv/bin/mypy
# A fresh clone has no .mypy_cache, and a cold mypy analyzes the whole aws_cdk package again (81%
# of the cache it writes): ~80 s of CPU on 2 cores, against ~1 s with the cache. mypy checks each
# cached module against its source file (size, mtime, then content hash), so an entry from another
# checkout is reused only where the file is the same, as with the Horovod wheel cached outside the
# clone (scripts/setup_horovod.sh). The seed is copied in and out whole under a lock, so two runs
# at once never write one cache. DTRAIN_MYPY_SEED=off: plain mypy with the clone's own cache.
set -euo pipefail

MYPY="${1:?usage: mypy_cached.sh MYPY}"
SEED="${DTRAIN_MYPY_SEED:-${XDG_CACHE_HOME:-${HOME}/.cache}/dtrain/mypy-cache}"
if [ "${SEED}" = "off" ]; then
  exec "${MYPY}"
fi
LOCK="${SEED}.lock"
mkdir -p "$(dirname "${SEED}")"

if [ ! -d .mypy_cache ] && [ -d "${SEED}" ]; then
  # A copy that fails half-way is removed: mypy then starts cold, as without a seed.
  flock -s "${LOCK}" cp -a "${SEED}" .mypy_cache || rm -rf .mypy_cache
fi
"${MYPY}"
# Only a passing run's cache becomes the seed; it is staged beside the seed, then swapped in.
staging="$(mktemp -d "${SEED}.new.XXXXXX")"
trap 'rm -rf "${staging}"' EXIT
cp -a .mypy_cache/. "${staging}/"
flock "${LOCK}" bash -c 'rm -rf "$1" && mv "$2" "$1"' _ "${SEED}" "${staging}"
