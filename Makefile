# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The stage demo configs point at this folder.
DEMO_DIR := data/demo
DEMO_OUT := $(DEMO_DIR)/outputs
FACE := $(PY) src_visual_dynamic_model/main.py
FACE_DEMO := --config src_visual_dynamic_model/configs/demo.toml
BEHAVIOUR := $(PY) src_behavior_description/main.py
BEHAVIOUR_DEMO := --config src_behavior_description/configs/demo.toml
AUDIO := $(PY) src_audio_and_fusion/main.py
AUDIO_DEMO := --config src_audio_and_fusion/configs/demo.toml

.PHONY: venv demo demo-behaviour demo-audio test lint bench clean

venv: $(STAMP)

# Reinstall when the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m abaw synth --preset demo --out $(DEMO_DIR)
	$(PY) -m abaw doctor --config $(DEMO_DIR)/data.toml
	$(PY) -m abaw index --annotations $(DEMO_DIR)/annotations --split train
	$(PY) -m abaw baseline --config $(DEMO_DIR)/data.toml
	$(PY) -m abaw validate-submission --template $(DEMO_DIR)/test_template.txt \
		--submission $(DEMO_OUT)/baseline/submission.txt
	$(PY) -m abaw evaluate --annotations $(DEMO_DIR)/annotations --split val \
		--predictions $(DEMO_OUT)/baseline/val --out $(DEMO_OUT)/baseline/val_evaluation
	$(FACE) extract $(FACE_DEMO)
	$(FACE) train $(FACE_DEMO)
	$(FACE) export $(FACE_DEMO)
	@echo "demo outputs: $(DEMO_OUT)"

# The behaviour stream on the demo dataset: warm-up of the tiny describer, descriptions, ridge probe.
demo-behaviour: $(STAMP)
	$(PY) -m abaw synth --preset demo --out $(DEMO_DIR)
	$(BEHAVIOUR) segments $(BEHAVIOUR_DEMO)
	$(BEHAVIOUR) warmup $(BEHAVIOUR_DEMO)
	$(BEHAVIOUR) describe $(BEHAVIOUR_DEMO)
	$(BEHAVIOUR) probe $(BEHAVIOUR_DEMO)

# The audio stream on the demo dataset: WAVs, windows, a tiny WavLM trained from scratch, export.
demo-audio: $(STAMP)
	$(PY) -m abaw synth --preset demo --out $(DEMO_DIR)
	$(AUDIO) extract-audio $(AUDIO_DEMO)
	$(AUDIO) windows $(AUDIO_DEMO)
	$(AUDIO) train-audio $(AUDIO_DEMO)
	$(AUDIO) export-audio $(AUDIO_DEMO)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/protocol.py
	$(PY) bench/visual_loader.py
	$(PY) bench/blend.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
