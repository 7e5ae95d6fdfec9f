# Two entry points: `make run` (the app on the shipped checkpoint) and `make test` (the whole suite).
# Both create .venv and install what they need on first use; later runs skip finished steps.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test data data-moses lint bench-train bench-sample bench-app-load

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# MOSES SMILES for the drug-like dataset: its pinned pomegranate==0.12.0 has no wheel, and the
	# package is never imported (its CSVs are read from the wheel), so it installs without dependencies.
	$(PY) -m pip install -q --no-deps molsets==0.3.1
	# the project itself, editable: benchmarks and notebooks import it like any package; `inertialar` on PATH
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install -q -r requirements-test.txt
	@touch $@

/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

run: $(VENV)/.installed
	@echo "InertialAR Studio: open http://localhost:$(PORT) in a browser (choose the port with make run PORT=8600)"
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: lint /usr/bin/chromium
	$(PY) -m pytest -q tests

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check inertialar pages benchmarks tests app.py

data: $(VENV)/.installed
	$(PY) -m inertialar data prepare

data-moses: $(VENV)/.installed
	$(PY) -m inertialar data prepare --dataset moses

bench-train: $(VENV)/.installed
	$(PY) -m inertialar bench train

bench-sample: $(VENV)/.installed
	$(PY) -m inertialar bench sample

bench-app-load: $(VENV)/.test-installed /usr/bin/chromium
	$(PY) benchmarks/app_load.py
