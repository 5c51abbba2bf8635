# The two commands of the README:
#   make demo   set everything up, then serve the bundled demo model on http://127.0.0.1:5000
#   make test   set everything up (Python packages, Debian chromium, sshd, wrk), then run every test
# CI also runs `make lint` (ruff, mypy) and `make test-oldest`: the tests of what depends on the
# libraries' versions, on the oldest versions requirements.txt claims.
# Everything is installed into .venv; torch is pinned to the CPU build by constraints.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The oldest versions requirements.txt claims (constraints-oldest.txt), tested in CI too.
OLDEST_VENV := .venv-oldest
OLDEST_PY := $(OLDEST_VENV)/bin/python
OLDEST_STAMP := $(OLDEST_VENV)/.installed

# Two test processes (pytest-xdist), each file in one of them (a notebook's cells run in order in
# one kernel); the slowest tests and every skip, with its reason, are printed.
PYTEST := -m pytest -n 2 --dist loadfile --durations=25 -rs
# What depends on the libraries' versions: loading checkpoints and tokenizers (torch,
# transformers, tokenizers, safetensors), every task's forward pass, OpenVINO, the web app and its
# servers (flask, werkzeug, waitress, gunicorn), the history (sqlalchemy, psycopg), images
# (pillow) and the notebooks. The rest (file jobs, attacks, exports, tunnels) is demo_app's own
# logic on top of those, run once by `make test`, as are the tests marked `logic` in these files.
VERSIONED_TESTS := tests/test_checkpoint.py tests/test_ratsnlp_checkpoint.py tests/test_model_trust.py \
	tests/test_arguments.py tests/test_classifier.py tests/test_pair_classification.py tests/test_ner_qa.py \
	tests/test_generation.py tests/test_explain.py tests/test_image_classification.py tests/test_openvino.py tests/test_precision.py tests/test_cold_start.py \
	tests/test_web.py tests/test_wsgi.py tests/test_history.py tests/test_history_postgres.py tests/test_push.py notebooks

.PHONY: demo test test-oldest lint setup venvs system-deps benchmark clean

demo: $(STAMP)
	$(PY) -m demo_app serve $(ARGS)

test: $(STAMP) system-deps
	$(PY) $(PYTEST) --nbval tests notebooks $(PYTEST_ARGS)

test-oldest: $(OLDEST_STAMP) system-deps
	$(OLDEST_PY) $(PYTEST) --nbval -m "not logic" $(VERSIONED_TESTS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check demo_app tests scripts benchmarks
	$(VENV)/bin/mypy demo_app

setup: $(STAMP) system-deps

# Both virtualenvs; `make -j3 venvs system-deps` (CI) installs them and the Debian packages side
# by side: each pip and apt spends most of its time waiting on files, not on a core. Packages are
# compiled at install (no --no-compile): where PYTHONDONTWRITEBYTECODE is set, as here, a module
# left uncompiled is compiled again by every process that imports it.
venvs: $(STAMP) $(OLDEST_STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# ratsnlp 1.0.53's wheel, not installed: the tests read exports with its own corpus classes
	$(PY) -m pip download --quiet --no-deps ratsnlp==1.0.53 -d $(VENV)/ratsnlp-wheel
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
