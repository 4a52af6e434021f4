# The two commands a newcomer needs: `make demo` and `make test`.
# Both create the virtual environment in .venv and install everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export YOLO_OFFLINE ?= True
export YOLO_AUTOINSTALL ?= False
# Offline machines use the detector in ../shared/models; elsewhere ultralytics downloads yolo11n.pt.
SHARED_MODEL := ../shared/models/yolo11n_int8_openvino_model
export BAYWATCH_MODEL ?= $(if $(wildcard $(SHARED_MODEL)),$(abspath $(SHARED_MODEL)),yolo11n.pt)

.PHONY: setup demo test lint lock

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# requirements.lock pins every package (transitively) to the versions CI tested; pyproject.toml
# keeps the ranges. `make lock` refreshes the pins from a fresh resolve.
setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,ray]'
	cd api/web && npm ci --ignore-scripts --no-audit --no-fund --silent

demo: setup
	$(BIN)/baywatch demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

lock:
	rm -rf .lock-venv
	$(PY) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,ray]'
	printf '%s\n' '# Pinned by `make lock` (pip freeze of a fresh install of .[dev,ray]); used as' \
	  '# constraints by `make setup`. Regenerate after changing dependencies in pyproject.toml.' \
	  > requirements.lock
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' >> requirements.lock
	rm -rf .lock-venv
