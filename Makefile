# Two commands do everything: `make run` (pipeline) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: it must be the virtualenv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: run test lint format push pull-onnx verify restore bench queue clean-venv

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is a local CPU wheel; anything else downloads gigabytes.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	dvc repro

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Send every DVC-tracked output of the last run, and the run-cache (every stage run this
# cache remembers, so a clone can restore them by params without training), to the default
# remote (REMOTE=s3 for S3).
push: $(STAMP)
	dvc push --run-cache $(if $(REMOTE),-r $(REMOTE))

# Fetch only the ONNX artifacts (the export stage's outputs): no data, no training; then
# re-hash what arrived (the workspace files and the local cache objects).
pull-onnx: $(STAMP)
	dvc pull $(if $(REMOTE),-r $(REMOTE)) export
	python -m ranker.verify models/onnx

# Re-hash DVC-tracked outputs (all, or PATHS=...) in the workspace and the local cache
# against dvc.lock: one line per mismatch, non-zero exit if any. DVC's checkout does not.
verify:
	python -m ranker.verify $(PATHS)

# After a failed or unwanted run: params.yaml and dvc.lock back to the last commit (or
# what `dvc` staged after the last good run), and that run's outputs out of the DVC cache.
restore:
	git checkout -- params.yaml dvc.lock
	dvc checkout --force

# Speed and memory against the reference recipe; writes bench/results.json (not run by tests).
bench: $(STAMP)
	$(PY) -m bench.run

# Run queued experiments with J workers. Each uses run.threads torch threads (a param,
# since the thread count changes the model): queue them with J x threads <= cores.
J ?= 2
queue: $(STAMP)
	dvc queue start -j $(J)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
