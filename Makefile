# One dev environment (.venv, Python 3.11) serves every target.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: help venv system-deps lint test test-unit demo bench bench-quick clean

help:
	@echo "make demo   - run the whole product locally (moto S3, daemon, Lambda handler, page)"
	@echo "make test   - create .venv, install, lint and run every test"
	@echo "make bench  - measure every stage (writes docs/benchmarks.md)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Chromium drives the e2e tests and shellcheck lints the bootstrap; both come from Debian.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "please install:$$missing (Debian packages)"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

demo: $(STAMP)
	$(BIN)/python -m devstack $(if $(IMAGES),--images $(IMAGES)) $(ARGS)

clean:
	rm -rf $(VENV) .aws-sam build dist .pytest_cache
