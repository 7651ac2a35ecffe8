# Two commands on a fresh clone: `make dev` and `make test`. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint fmt bench dev clean synth browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e . --group dev --group infra
	touch $(STAMP)

install: $(STAMP)

# The whole stack on this machine (embedded AWS, no account): gallery, images and API on one port,
# printed at start. Extra options through ARGS, e.g. `make dev ARGS="--port 0 --data /tmp/imgpipe"`.
dev: $(STAMP)
	$(PY) -m imgpipe.cli dev $(ARGS)

test: $(STAMP) browser
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
	$(PY) -m pip install --quiet --group bench
	$(PY) bench/run.py
	$(PY) bench/match_quality.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
