# The two set-up commands of the README: `make demo` and `make test`. Both start from nothing
# but python3 (with venv) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
ABR := $(VENV)/bin/abr
DEMO_OUT ?= out/demo
# The CPU build of torch that lies on this kind of machine's disk (no multi-GB CUDA download);
# GPU users: make install TORCH_SPEC='torch --index-url <your CUDA wheel index>'
TORCH_SPEC ?= torch==2.13.0

.PHONY: install player-deps demo test lint install-gpu clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The library, the fast simulator kernel, the test tools, and the training stack (torch first,
# so that `.[train]` finds it installed and fetches no other build).
install: $(PY)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[fast,train,dev]'

# The main job on the embedded default data (traces/default, the embedded video): the trace sets,
# the simulator's speed, every baseline and the offline optimum benchmarked on the test split, a small
# DQN trained with the future-aware teacher (configs/demo.toml), exported to ONNX and benchmarked
# beside the shipped model and every baseline, and how to serve it.
demo: install
	$(ABR) traces stats traces/default/train traces/default/test
	$(ABR) video info
	$(ABR) bench-sim --seconds 1
	$(ABR) bench --traces traces/default/test --policies bb,rb,bola,mpc,dynamic,optimal --out $(DEMO_OUT)
	$(ABR) train --config configs/demo.toml --out $(DEMO_OUT)/run
	$(ABR) export $(DEMO_OUT)/run --out $(DEMO_OUT)/model.onnx
	$(ABR) bench --traces traces/default/test --policies onnx:$(DEMO_OUT)/model.onnx,onnx,bb,rb,bola,mpc,dynamic --out $(DEMO_OUT)/onnx
	@echo "serve it:  $(ABR) serve --model $(DEMO_OUT)/model.onnx --port 8000"
	@echo "load it:   $(ABR) loadtest --server http://127.0.0.1:8000 --connections 16 --duration 10"

# The servers the tests run for real: Debian's chromium and ffmpeg (the real-player test),
# redis-server and nginx (the session store and the cluster tests), installed only where missing
# (needs root or sudo); and dash.js and uPlot (the demo page's charts) from npm at the versions
# package-lock.json pins. No browser download.
player-deps:
	@command -v ffmpeg >/dev/null && test -x /usr/bin/chromium && test -x /usr/bin/redis-server \
		&& test -x /usr/sbin/nginx || \
		( $$(command -v sudo) apt-get update -q && $$(command -v sudo) apt-get install -y -q \
			chromium ffmpeg redis-server nginx )
	(test -d players/dashjs/node_modules/dashjs && test -d players/dashjs/node_modules/uplot) \
	  || (cd players/dashjs && npm ci --no-audit --no-fund)

test: install player-deps
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check abr service tests
	$(VENV)/bin/ruff format --check abr service tests
	$(VENV)/bin/mypy abr service

# GPU hosts: onnxruntime-gpu instead of onnxruntime (they share a module name and must never be
# installed together).
install-gpu: install
	$(PY) -m pip install --quiet -e '.[gpu]'
	$(PY) -m pip uninstall --yes onnxruntime
	$(PY) -m pip install --quiet --force-reinstall --no-deps onnxruntime-gpu

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
