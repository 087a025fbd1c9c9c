# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The demo dataset; configs/pipeline_demo.toml and the stage demo configs point at it.
DEMO_DIR := data/demo

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

# Reinstall when the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Every stage, two steps at a time (one per core) where they do not read each other's outputs, then the
# blend and the final report (data/demo/outputs/report.html); a second run skips the up-to-date stages.
demo: $(STAMP)
	$(PY) -m abaw synth --preset demo --out $(DEMO_DIR)
	$(PY) -m abaw pipeline --config configs/pipeline_demo.toml --jobs 2

# Two workers, one torch thread each: the suite's subprocesses and tiny models use 2 cores better this
# way than one worker with two threads.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/protocol.py
	$(PY) bench/visual_loader.py
	$(PY) bench/blend.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
