# annota: `make run` sets everything up and serves the app; `make test` sets up the same and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PORT ?= 8501
export ANNOTA_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup run test test-fast lint format bench models browser demo clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes this pair from the machine's disk (see README, "Set-up")
	$(PIP) install --disable-pip-version-check -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install --disable-pip-version-check -q -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

models: $(STAMP)
	$(PY) -m core.assist.model_files

browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

setup: $(STAMP) models

demo: setup
	$(PY) -m core.demo

run: setup demo
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
	  --server.headless true --browser.gatherUsageStats false

test: setup browser
	$(PY) -m pytest -q --timeout=900

test-fast: setup
	$(PY) -m pytest -q -m "not e2e and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
