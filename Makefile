# Two commands do everything: `make run` (pipeline) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml call `python`: it must be the virtualenv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: run test test-fast docs params-page cv compare show join lint format push pull-onnx verify restore bench bench-quick bench-deep bench-objectives queue clean-venv

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is a local CPU wheel; anything else downloads gigabytes.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The page `dvc plots show`/`diff` fill (plots.html_template in .dvc/config), with Vega
# inlined so it opens offline; generated, so not in git.
PLOTS_PAGE := .dvc/plots.html
$(PLOTS_PAGE): $(STAMP)
	$(PY) -m ranker.plots_page $@

# Scratch a killed run left (models/.onnx.tmp...) goes first: a stage restored from the
# run-cache never runs, so it would never remove its own.
run: $(STAMP) $(PLOTS_PAGE)
	python -m ranker.scratch
	dvc repro

# The whole suite (what CI runs through .ci/run), docs build included.
test: $(STAMP) $(PLOTS_PAGE)
	$(PY) -m pytest $(PYTEST_ARGS)

# A developer's loop: every unit, data and model test, no pipeline run (docs/code-layout.md).
test-fast: $(STAMP) $(PLOTS_PAGE)
	$(PY) -m pytest -m "not pipeline and not slow and not gpu" $(PYTEST_ARGS)

# The manual as a site (site/), strict: a broken link or anchor fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# docs/params.md from the declarations in ranker/sections.py and ranker/settings.py.
params-page: $(STAMP)
	$(PY) -m ranker.params_page docs/params.md

# K-fold cross-validation over queries: every query scored once by a model that never saw
# it; cv/metrics/cv.json holds means, fold spread, 95% CIs and paired tests. cv/ is a DVC
# project of its own (cv/dvc.yaml's header says why); DVC commands for CV run there. Its
# inputs, data/raw and data/retrieve, are the main project's download and retrieve stages'
# outputs: those run first.
cv: $(STAMP) $(PLOTS_PAGE)
	dvc repro download base retrieve
	cd cv && dvc repro

# Per-query nDCG@k of two revisions or experiments (or `workspace`), read back through DVC:
# make compare A=main B=my-exp [COMPARE_PATH=cv/plots/summary/per_query.csv]
compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<rev|exp|workspace> B=<rev|exp|workspace>" >&2; exit 2; }
	python -m ranker.evaluation.compare "$(A)" "$(B)" $(if $(COMPARE_PATH),--path "$(COMPARE_PATH)")

# The experiments in about ten columns: the params that differ, test nDCG@10 with its 95%
# CI, BM25's, the delta and p-value against it, the query count. SHOW_ARGS go to
# `dvc exp show` (e.g. SHOW_ARGS="-A" for every commit, "-n 5" for the last five).
show: $(STAMP)
	python -m ranker.evaluation.experiments $(SHOW_ARGS)

# Send every DVC-tracked output of the last run, then the run-cache (every stage run this
# cache remembers, so a clone can restore them by params without training), to the default
# remote (REMOTE=s3 for S3); cross-validation's too where `make cv` ran (cv/dvc.lock), to
# cv/'s remote of that name. Outputs go first: against an unreachable remote that push
# fails in seconds with one line, where the run-cache push alone retries for minutes. s3fs
# leaves a coroutine unawaited when DVC exits on that error, and Python's warning about it at
# shutdown would bury the one line under a dozen.
push: export PYTHONWARNINGS = ignore:coroutine:RuntimeWarning
push:
	dvc push $(if $(REMOTE),-r $(REMOTE))
	dvc push --run-cache $(if $(REMOTE),-r $(REMOTE))
	test ! -f cv/dvc.lock || { cd cv && dvc push $(if $(REMOTE),-r $(REMOTE)) && dvc push --run-cache $(if $(REMOTE),-r $(REMOTE)); }

# Fetch only what the export stage wrote (the ONNX in models/onnx, the fine-tuned checkpoint in
# models/reranker, the Vespa application package in models/vespa): no data, no training; then
# re-hash what arrived (workspace and cache).
pull-onnx: $(STAMP)
	dvc pull $(if $(REMOTE),-r $(REMOTE)) export
	python -m ranker.verify models/onnx models/reranker models/vespa

# Re-hash DVC-tracked outputs (all, or PATHS=...) in the workspace and the local cache
# against dvc.lock: one line per mismatch, non-zero exit if any. DVC's checkout does not.
verify:
	python -m ranker.verify $(PATHS)

# After a failed or unwanted run: params.yaml and the locks back to the last commit (or
# what `dvc` staged after the last good run), and that run's outputs out of the DVC cache.
# Cross-validation's outputs come back too where the cache has them (`make cv` ran here).
restore:
	python -m ranker.scratch
	git checkout -- params.yaml dvc.lock
	dvc checkout --force dvc.yaml
	git checkout -- cv/dvc.lock 2>/dev/null || true
	@test ! -f cv/dvc.lock || (cd cv && dvc checkout --force 2>/dev/null) || echo "restore: cross-validation outputs are not in cv/'s cache here (make cv, or cd cv && dvc pull)"

# Another machine of a multi-node training job (distributed.nnodes > 1 in params.yaml): run
# the train stage's command as dvc.yaml writes it, without DVC; node 0's `dvc repro` writes
# the outputs. PET_NODE_RANK=1.. names this machine, PET_RDZV_ENDPOINT=host:port node 0.
join:
	@test -n "$$PET_NODE_RANK" || { echo "usage: PET_NODE_RANK=<1..nnodes-1> [PET_RDZV_ENDPOINT=host:port] make join" >&2; exit 2; }
	python -c 'import shlex, subprocess, sys, yaml; cmd = yaml.safe_load(open("dvc.yaml"))["stages"]["train"]["cmd"]; sys.exit(subprocess.call(shlex.split(cmd)))'

# The bench's own environment: sentence-transformers' and Optimum's ONNX paths, which the
# alternatives section measures against this project's (bench/alternatives.py). Optimum pins
# transformers 4, so it cannot share .venv.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): requirements-bench.lock
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install -q -r requirements-bench.lock
	touch $(BENCH_STAMP)

# Speed and memory against the reference recipe; writes bench/results.json (not run by tests).
# BENCH_ARGS="--only scale" runs some sections and keeps the others' last numbers.
bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

# The headline ratios on both instruction-set paths in a few minutes (bench/results-quick.json).
bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

# The headline sections plus the investigations of bench/deep/ (GEMM limits, profiles).
bench-deep: $(STAMP)
	$(PY) -m bench.run --deep $(BENCH_ARGS)

# The training choices of docs/training.md's table, each cross-validated as deployed, and
# their seconds per epoch (bench/objectives.py; two hours on 2 cores). Run `make run` first.
bench-objectives: $(STAMP)
	$(PY) -m bench.objectives --timing $(BENCH_ARGS)

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
	rm -rf $(VENV) $(BENCH_VENV)
