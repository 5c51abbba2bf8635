# The two commands of the README:
#   make demo   set everything up, then serve the bundled demo model on http://127.0.0.1:5000
#   make test   set everything up (Python packages, Debian chromium, sshd, wrk), then run every test
# CI also runs `make test-oldest`: the same tests on the oldest versions requirements.txt claims.
# Everything is installed into .venv; torch is pinned to the CPU build by constraints.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The oldest versions requirements.txt claims (constraints-oldest.txt), tested in CI too.
OLDEST_VENV := .venv-oldest
OLDEST_PY := $(OLDEST_VENV)/bin/python
OLDEST_STAMP := $(OLDEST_VENV)/.installed

.PHONY: demo test test-oldest setup system-deps benchmark clean

demo: $(STAMP)
	$(PY) -m demo_app serve $(ARGS)

test: $(STAMP) system-deps
	$(PY) -m pytest --nbval tests notebooks $(PYTEST_ARGS)

test-oldest: $(OLDEST_STAMP) system-deps
	$(OLDEST_PY) -m pytest --nbval tests notebooks $(PYTEST_ARGS)

setup: $(STAMP) system-deps

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

$(OLDEST_STAMP): requirements.txt requirements-dev.txt constraints-oldest.txt pyproject.toml
	test -x $(OLDEST_PY) || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_PY) -m pip install --quiet --upgrade pip
	$(OLDEST_PY) -m pip install --quiet -r requirements-dev.txt -c constraints-oldest.txt
	$(OLDEST_PY) -m pip install --quiet --no-deps -e .
	$(OLDEST_PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(OLDEST_STAMP)

system-deps:
	bash scripts/install-system-deps.sh

benchmark: $(STAMP) system-deps
	$(PY) benchmarks/serve_benchmark.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) test-artifacts
