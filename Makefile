# The two commands the README opens with: `make demo` and `make test`.
# Every target installs what it needs and is a no-op when it is already there.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Hypothesis, pytest and mypy caches stay inside the clone (mypy's is seeded from the last passing
# run's, scripts/mypy_cached.sh), and so does Python's bytecode: each module is compiled on its
# first import into .dtrain/pycache (not into __pycache__ folders of the checkout), and every later
# process reads it from there. The virtualenvs are installed without byte-compiling (most of their
# ~50,000 modules are never imported by any test; compiling them all was 2/3 of set-up's CPU),
# except the two image stand-ins, .venv-toolkit and .venv-hvd: local mode runs them with the
# image's environment (PYTHONDONTWRITEBYTECODE=1, this variable not passed on), in which a module
# without its installed .pyc would be compiled again at every import, as in the DLC images.
# Python writes each .pyc atomically, so parallel test workers share the folder. A
# PYTHONDONTWRITEBYTECODE from the caller's environment is not passed on: with it, nothing is
# written there, installed .pyc are not read either, and every process compiles every import.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.dtrain/pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test setup lint pytest pytest-main pytest-lambda synth system-deps clean

demo: $(VENV)/.stamp node_modules/.stamp system-deps
	$(BIN)/python -m dtrain.demo

# Set-up runs its independent installs in parallel; then the checks (CHECKS) run side by side, not
# one after another: lint and the Lambda-runtime suite take a few CPU minutes between them, beside
# a main suite that spends much of its time waiting on training processes and servers.
# --output-sync=target prints each check's output whole when it ends (no interleaved lines; the
# main suite, the longest, comes last); --keep-going lets the others finish and report when one
# fails, and make still exits non-zero when any of them failed. benchmarks/suite_time.py times
# the same schedule phase by phase.
CHECKS := lint pytest-main pytest-lambda
test:
	$(MAKE) --no-print-directory -j4 setup
	@echo "make test: $(CHECKS) side by side; each one's output appears whole when it ends"
	$(MAKE) --no-print-directory -j3 --keep-going --output-sync=target $(CHECKS)

setup: $(VENV)/.stamp node_modules/.stamp .venv-tools/.stamp .venv-sdk/.stamp .venv-hvd/.stamp .venv-toolkit/.stamp .venv-lambda/.stamp .venv-tfs/.stamp system-deps

# mypy starts from the cache of the last passing run on this machine (scripts/mypy_cached.sh).
lint: $(VENV)/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash scripts/mypy_cached.sh $(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The main suite runs in PYTEST_WORKERS processes (pytest-xdist): part of it waits on training
# processes, servers, Node.js and the toolkit's fixed 30 s after mpirun, so a third worker pays
# even on 2 cores (the suite's CPU, benchmarks/suite_cpu.py, bounds what more workers can give).
# Each server picks its port below the kernel's ephemeral range (dtrain/ports.py), so workers
# starting servers at once do not take each other's ports. Each test file stays on one
# worker, the synthesized-app tests share one (tests/conftest.py); PYTEST_WORKERS=0: one process.
# benchmarks/suite_time.py times these targets. The 20 slowest tests close every run's output: the
# speed budget (make test in 10 minutes from a fresh clone) is tracked from there.
PYTEST_WORKERS ?= 3
pytest: pytest-main pytest-lambda

pytest-main: setup
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=20

pytest-lambda: setup
	.venv-lambda/bin/python -m pytest -q $(LAMBDA_TESTS)

synth: $(VENV)/.stamp node_modules/.stamp
	npx --no-install cdk synth --quiet

# uv installs every virtualenv's packages (pip made the virtualenvs, with their own pip): the same
# distributions as pip, with each wheel unpacked once into uv's cache and hard-linked from there,
# downloads in parallel and kept (scripts/uv_install.py passes pip's configuration on to uv).
# uv itself comes from PyPI at the version requirements-uv.txt pins, into .venv-uv (a pip --target
# folder: 3 s instead of 10 s for a virtualenv of its own, and every install waits for it).
UV_STAMP := .venv-uv/.stamp
UV_INSTALL := scripts/uv_install.py -q
$(UV_STAMP): requirements-uv.txt
	rm -rf .venv-uv
	$(PY) -m pip install -q --root-user-action=ignore --target .venv-uv -r requirements-uv.txt
	touch $@

# Main virtualenv: CDK app, dtrain, tests, torch (CPU).
$(VENV)/.stamp: requirements.txt requirements-dev.txt pyproject.toml | $(UV_STAMP)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python $(UV_INSTALL) -r requirements-dev.txt
	$(BIN)/python $(UV_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins many libraries of its own: it lives in its own virtualenv.
.venv-tools/.stamp: requirements-tools.txt | $(UV_STAMP)
	test -x .venv-tools/bin/python || $(PY) -m venv .venv-tools
	.venv-tools/bin/python $(UV_INSTALL) -r requirements-tools.txt
	touch $@

# SageMaker Python SDK 2.x and the SageMaker training toolkit, for parity tests only.
.venv-sdk/.stamp: requirements-sdk.txt | $(UV_STAMP)
	test -x .venv-sdk/bin/python || $(PY) -m venv .venv-sdk
	.venv-sdk/bin/python $(UV_INSTALL) -r requirements-sdk.txt
	touch $@

# The training toolkit and the PyTorch toolkit beside torch in one interpreter, as in the ddp image:
# local mode runs its real `train` (dtrain/local/host_chains.py; the horovod image's is .venv-hvd's).
# Byte-compiled at install, as the image's packages are: its processes write no bytecode.
.venv-toolkit/.stamp: requirements-toolkit.txt | $(UV_STAMP)
	test -x .venv-toolkit/bin/python || $(PY) -m venv .venv-toolkit
	.venv-toolkit/bin/python $(UV_INSTALL) --compile-bytecode -r requirements-toolkit.txt
	touch $@

# The Lambda code's tests again under the Lambda runtime's Python (python3.13, as
# stacks/orchestration/lambda_bundling.RUNTIME) with the boto3/botocore the assets vendor.
PY_LAMBDA ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
LAMBDA_TESTS := tests/lambda tests/dtrain --ignore=tests/dtrain/test_sdk_parity.py
.venv-lambda/.stamp: requirements-lambda.txt requirements-lambda-dev.txt | $(UV_STAMP)
	test -x .venv-lambda/bin/python || $(PY_LAMBDA) -m venv .venv-lambda
	.venv-lambda/bin/python $(UV_INSTALL) -r requirements-lambda-dev.txt
	touch $@

# The TF Serving 2.12 image's Python (3.10) and its packages, exactly (requirements-tfs.txt says
# where they come from): a TensorFlow model's handlers run there (dtrain/serving/tf_serve.py).
PY_TFS ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)
.venv-tfs/.stamp: requirements-tfs.txt | $(UV_STAMP)
	test -x .venv-tfs/bin/python || $(PY_TFS) -m venv .venv-tfs
	.venv-tfs/bin/python $(UV_INSTALL) -r requirements-tfs.txt
	# As the image: the gRPC client's stubs without their TensorFlow dependency.
	.venv-tfs/bin/python $(UV_INSTALL) --no-deps tensorflow-serving-api==2.12.0
	touch $@

# TensorFlow + PyTorch + Horovod (its patched wheel built once, cached outside the clone).
.venv-hvd/.stamp: requirements-horovod.txt scripts/setup_horovod.sh training_code/horovod/patches/horovod-0.28.1-torch-cxx17.patch | system-deps $(UV_STAMP)
	bash scripts/setup_horovod.sh .venv-hvd
	touch $@

# Open MPI from Debian packages (mpirun for pytorchddp and Horovod).
system-deps:
	@bash scripts/install_system_deps.sh

clean:
	rm -rf cdk.out .dtrain .pytest_cache .mypy_cache .ruff_cache
