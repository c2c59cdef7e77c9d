# Two commands set everything up on a fresh machine:
#   make run    — create .venv, install, build the demo bank if absent, serve the dashboard on 127.0.0.1
#   make test   — install test extras and the browser the UI tests drive, run the whole suite
VENV   ?= .venv
PYTHON ?= python3
DB     ?= data/bank.duckdb
PORT   ?= 8501
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
BANKCORE := $(VENV)/bin/bankcore

.PHONY: run test test-fast install install-test browser demo bench bench-fleet bench-real-model screenshots clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: 2.13.0 is a CPU build on local disk; letting sentence-transformers pull torch
# would fetch a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e '.[test,postgres]'
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser

# Debian's chromium + chromium-driver for the real-browser tests (playwright's own download cannot work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

demo: install
	$(BANKCORE) demo --db $(DB) --force

run: install
	@test -f $(DB) || $(BANKCORE) demo --db $(DB)
	BANKCORE_DB=$(DB) $(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
	  --server.headless true --browser.gatherUsageStats false

test: install-test
	$(PY) -m pytest -q

# The fast tier, about a minute on an idle 2-core machine (~100 s CPU for ~1,290 tests, measured on a busy one; it
# was ~111 s CPU, 68.8 s wall): the engine's unit-level tests. tests/tiers.py marks `slow` what needs the browser, a
# subprocess, AppTest, the shared datasets or torch; `make test` still runs those. Bank files go to tmpfs (/dev/shm)
# where there is one; the closing line says how many tests were left out and why.
# Compiled modules (Python's bytecode, pytest's rewritten test modules) are kept under $(PYCACHE) even where
# PYTHONDONTWRITEBYTECODE is set: without them every run compiled the ~200 test and engine modules again (~8 s CPU).
PYCACHE := $(abspath $(VENV))/pycache
test-fast: $(VENV)/.installed-test
	@tmp=$$( [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "$${TMPDIR:-/tmp}" ); \
	base=$$(mktemp -d "$$tmp/bankcore-fast.XXXXXX"); \
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX="$(PYCACHE)" $(PY) -m pytest -q -m "not slow" --basetemp="$$base/t"; \
	rc=$$?; rm -rf "$$base"; exit $$rc

bench: install
	$(PY) bench/import_speed.py
	$(PY) bench/learn.py
	$(PY) bench/dashboard.py

# Many agents on one bank (issue 17): 16 agent processes for 60 s (half MCP over HTTP, half the Python API), the
# dashboard reading and consolidate looping, on an embedded PostgreSQL and on the DuckDB single-writer baseline; checks
# 0 lost and 0 duplicate writes and a clean `bankcore check`. Smaller: make bench-fleet FLEET="--agents 4 --seconds 20".
bench-fleet: $(VENV)/.installed-test
	$(PY) bench/fleet_load.py $(FLEET)

# Every LLM role against a real local model: a llama.cpp server built once into a cached venv (~35 min on 2 busy
# cores) serving SmolLM2-135M from PyPI. Not part of `make test`.
bench-real-model: install
	$(PY) bench/real_model.py

# README screenshots of every dashboard screen on the demo bank (needs the browser).
screenshots: install-test
	$(PY) bench/screenshots.py

clean-venv:
	rm -rf $(VENV)
