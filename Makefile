# One dev environment (.venv, Python 3.11) serves every target.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
# Python may write its bytecode caches (__pycache__, gitignored) whatever the environment says: the
# venvs are installed without them (--no-compile, below), and the test run starts about 170 Python
# processes that would otherwise each compile the same modules again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help venv system-deps lint test test-runtime test-unit demo bench bench-quick clean validate sam-build publish checkov bench-cache

help:
	@echo "make demo   - run the whole product locally (moto S3, daemon, Lambda handler, page)"
	@echo "make test   - create .venv, install, lint and run every test"
	@echo "make bench  - measure every stage (writes docs/benchmarks.md)"
	@echo "make sam-build / make publish - deploy to AWS (docs/deploy.md)"

# --no-compile (here and in the other venvs): Python compiles a module when it is first imported;
# compiling every file of every wheel up front cost about 20 s of CPU for files never imported.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Chromium drives the e2e tests and shellcheck lints the bootstrap; both come from Debian. The e2e
# tests prefer chromium-headless-shell (the same Chromium build in the old headless mode, as
# Playwright's own headless runs use): on this machine's two cores it took under half the CPU of
# chromium's full headless browser (56 -> 24 CPU-s for tests/e2e). Optional: chromium stands in.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "please install:$$missing (Debian packages)"; exit 1; fi; \
	fi
	@if ! command -v chromium-headless-shell >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null; then :; \
		else echo "chromium-headless-shell not installed: the e2e tests use chromium (slower)"; fi; \
	fi

# The template is linted with both tools; sam stays offline and quiet.
SAM := SAM_CLI_TELEMETRY=0 $(BIN)/sam
# sam build needs the function's runtime (python3.12) on PATH. Where pyenv provides the
# interpreters, select the newest 3.11 (ours) and 3.12 (the runtime's) through PYENV_VERSION.
PYENV_LATEST = $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep -E '^$(1)\.[0-9]+$$' | sort -V | tail -n 1)
PYENV_PAIR = $(subst $(eval) ,:,$(strip $(call PYENV_LATEST,3\.11) $(call PYENV_LATEST,3\.12)))
SAM_BUILD_ENV = $(if $(PYENV_PAIR),PYENV_VERSION=$(PYENV_PAIR))

# ruff and shellcheck; cfn-lint, `sam validate --lint` and checkov run once, as tests
# (tests/unit/template), so `make test` runs each of them once (`make validate checkov` alone).
lint: $(STAMP)
	$(BIN)/ruff check .
	@if command -v shellcheck >/dev/null; then shellcheck agent_scripts/bootstrap.sh; \
	else echo "shellcheck not installed: skipping agent_scripts/bootstrap.sh (make system-deps installs it)"; fi

validate: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

# checkov pins its own boto3 (older than ours), so it gets a venv of its own; 0 failed checks,
# and what does not apply is skipped in template.yaml with a one-line reason.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --no-compile checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download

sam-build: $(STAMP)
	$(SAM_BUILD_ENV) $(SAM) build

# Reads the deployed stack's outputs and fills its buckets; ARGS="--help" lists the options.
publish: $(STAMP) wheelhouse
	$(BIN)/python -m publish $(if $(IMAGES),--images $(IMAGES)) $(ARGS)

# Set-up first, its independent parts side by side (-j3: the dev venv, the functions' runtime venv and
# checkov's venv). Then three workers on the machine's two cores (the stack tests wait on their
# stack: polls, the daemon's reload), each test module a unit of work, but the session stack's
# modules are one unit on one worker, and the longest units start first (tests/conftest.py).
# The search function's unit tests run once, on its runtime (test-runtime, python3.12) where the
# machine has it, else here. test-runtime runs beside the main suite at a lower priority (nice): it
# takes the CPU the workers leave idle (starting up, waiting on a stack, the last module), and
# its output is printed after the main suite's; either failing fails `make test`.
PYTEST_WORKERS ?= 3
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target test-setup
	@mkdir -p test-output
	nice -n 10 $(MAKE) --no-print-directory test-runtime > test-output/test-runtime.log 2>&1 & runtime=$$!; \
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadscope \
		$$([ -x $(RUNTIME_VENV)/bin/python ] && echo --ignore=tests/unit/function); main=$$?; \
	wait $$runtime; rc=$$?; \
	echo "--- the functions' tests on their runtime (make test-runtime, test-output/test-runtime.log):"; \
	cat test-output/test-runtime.log; [ $$main -eq 0 ] && [ $$rc -eq 0 ]

.PHONY: test-setup
test-setup: $(STAMP) system-deps lint wheelhouse runtime-venv $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

# The functions also run on the template's runtime (python3.12): the search and featurize functions'
# unit tests run there too (the featurize tests that need MXNet to convert a model skip there), and
# the local stack runs the functions' containers on it (docs/local.md), in a
# small venv of the functions' own dependencies and the test tools.
RUNTIME_VENV := .venv-runtime
$(RUNTIME_VENV)/.installed: constraints.txt functions/search/requirements.txt functions/ingest/requirements.txt \
		functions/featurize/requirements.txt functions/featurize/layer/requirements.txt
	$(SAM_BUILD_ENV) python3.12 -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --no-compile -c constraints.txt -r functions/search/requirements.txt \
		-r functions/ingest/requirements.txt -r functions/featurize/requirements.txt \
		boto3 moto pytest pytest-socket pytest-timeout pytest-xdist
	# The featurize layer's own pins (numpy 2 for Python 3.12; constraints.txt pins the instance's 1.23).
	$(RUNTIME_VENV)/bin/pip install --quiet --no-compile -r functions/featurize/layer/requirements.txt
	touch $@

# Built where python3.12 exists; elsewhere the local stack says it runs the functions on .venv's Python.
.PHONY: runtime-venv
runtime-venv:
	@if $(SAM_BUILD_ENV) python3.12 --version >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(RUNTIME_VENV)/.installed; \
	else echo "python3.12 not found: the local stack runs the functions on $(PYTHON)"; fi

test-runtime: runtime-venv
	@if [ -x $(RUNTIME_VENV)/bin/python ]; then $(RUNTIME_VENV)/bin/python -m pytest -q -n 2 tests/unit/function \
		tests/unit/featurize; \
	else echo "python3.12 not found: the function's tests on its runtime were not run"; fi

test-unit: $(STAMP) runtime-venv
	$(BIN)/python -m pytest -q tests/unit

demo: $(STAMP) runtime-venv
	$(BIN)/python -m devstack $(if $(IMAGES),--images $(IMAGES)) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(ARGS)

# N searches (default 20) with p50/p95 per stage and the access checks (docs/deploy.md): against the
# deployed stack (its outputs), or one given by its URLs: make smoke URL=<page URL> S3=<S3 endpoint>
# [SITE=<site bucket>] (make demo prints them; the tool never imports the local stack).
.PHONY: smoke
smoke: $(STAMP)
	$(BIN)/python -m publish.smoke $(if $(URL),--url $(URL) --s3-endpoint $(S3) $(if $(SITE),--site-bucket $(SITE))) $(if $(N),--searches $(N)) $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py --out docs/benchmarks.md --made-by "make bench" $(ARGS)

# The result cache's section: hit vs SSM path locally, warm-up and size at 30,000 images.
bench-cache: $(STAMP)
	nice -n 19 $(BIN)/python bench/cache_bench.py --out docs/result_cache_bench.md $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick --made-by "make bench-quick" $(ARGS)

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(CHECKOV_VENV) .aws-sam build dist .pytest_cache .cache

# The instance's dependencies as binary wheels checked against agent_scripts/requirements.lock,
# in .cache/wheelhouse; an install step (it downloads only what the cache lacks). `make lock`
# rewrites the lock after a pin in agent_scripts/requirements.txt changed (needs the network).
.PHONY: wheelhouse lock bundle
wheelhouse: $(STAMP)
	$(BIN)/python -m publish.wheelhouse download

lock: $(STAMP)
	$(BIN)/python -m publish.wheelhouse lock

# The agent bundle for the instance: dist/agent-<hash>.tar.gz and dist/current.json (its pointer).
bundle: $(STAMP) wheelhouse
	$(BIN)/python -m publish.bundle --out dist

# docs/settings.md is generated from the settings tables (a unit test fails when it drifts).
.PHONY: settings-doc
settings-doc: $(STAMP)
	$(BIN)/python docs/settings_doc.py

# The figures README.md and docs/*.md quote are rewritten from docs/bench/figures.json, which the
# bench targets write; run it after a bench run (a unit test fails when a quote differs).
.PHONY: figures-doc
figures-doc: $(STAMP)
	$(BIN)/python docs/figures_doc.py

# The growth curve (docs/benchmarks.md, last section): synthetic features at 30,000 to 1,000,000
# vectors; see docs/benchmarks.md for its wall time here; up to ~13 GiB of memory. SIZES=30000,100000 for less.
.PHONY: bench-scale
bench-scale: $(STAMP) wheelhouse
	cd bench && nice -n 19 ../$(BIN)/python scale.py --out ../docs/benchmarks.md $(if $(SIZES),--sizes $(SIZES)) $(ARGS)
