# Two commands do everything: `make run` (pipeline) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: it must be the virtualenv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: run test lint format push pull-onnx bench queue clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is a local CPU wheel; anything else downloads gigabytes.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	dvc repro

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Send every DVC-tracked output of the last run to the default remote (REMOTE=s3 for S3).
push: $(STAMP)
	dvc push $(if $(REMOTE),-r $(REMOTE))

# Fetch only the ONNX artifacts (the export stage's outputs): no data, no training.
pull-onnx: $(STAMP)
	dvc pull $(if $(REMOTE),-r $(REMOTE)) export

# Speed and memory against the reference recipe; writes bench/results.json (not run by tests).
bench: $(STAMP)
	$(PY) -m bench.run

# Run queued experiments with J workers, each limited to its share of the cores.
J ?= 2
queue: $(STAMP)
	TORCH_NUM_THREADS=$$(( $$(nproc) / $(J) > 0 ? $$(nproc) / $(J) : 1 )) dvc queue start -j $(J)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
