# `make demo` and `make test` set up .venv first (quick when it is already done).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-pretrain ablation ablation-pretrain ablation-degradations test bench docs mutation mutation-survivors check-official check-floor clean-venv

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

# Paired LR + noise injection, on-the-fly degradations, both (figures/ablation_degradations.md).
ablation-degradations: setup
	$(PY) codes/ablation.py --study degradations

test: setup
	$(PY) -m pytest -q tests

bench: setup
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

docs: setup
	cd codes && ../$(PY) -m rwsr.options.doc > ../docs/options.md

# Development only (about 45 minutes on 2 cores; see docs/contributing.md).
mutation: setup
	$(PY) -m pip install -q --disable-pip-version-check "mutmut>=3.8"
	$(PY) tests/mutation/run_mutation.py

# After adding tests: re-test only the survivors of the last `make mutation`.
mutation-survivors: setup
	$(PY) -m pip install -q --disable-pip-version-check "mutmut>=3.8"
	$(PY) tests/mutation/run_mutation.py --survivors

# The official training step against ours: OFFICIAL_GIT is the git directory of a snapshot of
# github.com/House-Leo/RWSR-EDL (nothing of it is copied into this repository).
check-official: setup
	RWSR_OFFICIAL_GIT=$(OFFICIAL_GIT) $(PY) -m pytest -q tests/test_official_equivalence.py

# Not part of CI: the suite on the oldest torch/torchvision that requirements.txt states, in a
# throw-away venv outside the tree (FLOOR_VENV, default /tmp/rwsr-floor; several GB of wheels).
check-floor:
	bash tests/floor/check_floor.sh

clean-venv:
	rm -rf $(VENV)
