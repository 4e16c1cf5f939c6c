# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO := build/demo

.PHONY: demo test bench soak live-switch system-packages clean

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

# What the live tests start besides vclf: GStreamer's RTSP server (run with the
# system python3), an X server without a screen, a screenshot tool, and a headless browser for --serve's page.
SYSTEM_PACKAGES := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good xvfb scrot chromium

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then echo "make: the tests need $$missing; install them as root" >&2; exit 1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Two workers; the session's trained run is built once and shared (tests/conftest.py).
# The latency suite runs in quick mode beside the tests: each row once, outputs checked, nothing timed.
test: $(INSTALLED) system-packages
	$(BIN)/python -m pytest tests benchmarks -n 2 --dist loadgroup --benchmark-disable

# Soaks: a 60 s live replay with inference slower than the source, five minutes of four
# MJPEG-over-HTTP sources in one batching process, and five minutes of one with --serve (a viewer
# attached) and --record: memory must stay flat in all three.
soak: $(INSTALLED) system-packages
	$(BIN)/python -m pytest tests/soak_live.py -s

# A live run's label follows a change of action, from a file, over HTTP and over RTSP, on a
# model fitted with --live-windows on 90 synthetic clips per class (about ten minutes).
live-switch: $(INSTALLED) system-packages
	$(BIN)/python -m pytest tests/switch_live.py -s

# The full latency suite: timed rows and ratio checks; the JSON, table and chart go to benchmarks/results/
# (written also when a ratio check fails, which still fails the target).
bench: $(INSTALLED)
	mkdir -p build
	$(BIN)/python -m pytest benchmarks --benchmark-json=build/bench.json; status=$$?; \
	    $(BIN)/python benchmarks/report.py build/bench.json benchmarks/results && exit $$status

clean:
	rm -rf $(VENV) build
