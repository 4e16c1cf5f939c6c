# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO := build/demo

.PHONY: demo test bench clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The whole pipeline offline: synthetic clips → fit (random InceptionV3) → ONNX bundle → predictions.
demo: $(INSTALLED)
	rm -rf $(DEMO)
	$(BIN)/vclf-train synth $(DEMO)/data --seed 0
	$(BIN)/vclf-train fit $(DEMO)/data --out $(DEMO)/run --weights none
	$(BIN)/vclf-export $(DEMO)/run --out $(DEMO)/bundle
	$(BIN)/vclf-run '$(DEMO)/data/test/*_000.avi' --model $(DEMO)/bundle

test: $(INSTALLED)
	$(BIN)/python -m pytest tests

bench: $(INSTALLED)
	$(BIN)/python -m pytest benchmarks

clean:
	rm -rf $(VENV) build
