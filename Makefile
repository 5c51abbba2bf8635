# The two commands of the README:
#   make demo   set everything up, then serve the bundled demo model on http://127.0.0.1:5000
#   make test   set everything up (Python packages, Debian chromium, sshd), then run every test
# Everything is installed into .venv; torch is pinned to the CPU build by constraints.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps benchmark clean

demo: $(STAMP)
	$(PY) -m demo_app serve $(ARGS)

test: $(STAMP) system-deps
	$(PY) -m pytest --nbval tests notebooks $(PYTEST_ARGS)

setup: $(STAMP) system-deps

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

benchmark: $(STAMP) system-deps
	$(PY) benchmarks/serve_benchmark.py

clean:
	rm -rf $(VENV) test-artifacts
