# `make demo` and `make test` set up .venv first (quick when it is already done).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-pretrain ablation ablation-pretrain test bench clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(PY) codes/demo.py

demo-pretrain: setup
	$(PY) codes/demo.py --pretrain

ablation: setup
	$(PY) codes/ablation.py

ablation-pretrain: setup
	$(PY) codes/ablation.py --pretrain

test: setup
	$(PY) -m pytest -q tests

bench: setup
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
