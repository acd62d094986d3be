# One command each: `make demo` and `make test` set up their own virtual
# environment (in .venv) and run. TORCH_SPEC and NUMPY_SPEC choose what pip
# installs: CI pins a local CPU wheel with TORCH_SPEC=torch==2.13.0.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch
NUMPY_SPEC ?= numpy
PYTEST_ARGS ?=
# Extra pins for the test environment (CI's numpy 1.26 run needs a pyarrow built for numpy 1).
TEST_PINS ?=
PIP = $(VENV)/bin/python -m pip --disable-pip-version-check -q
RUN = $(VENV)/bin/python

.PHONY: demo test lint docs dist bench clean

demo: $(VENV)/.base
	$(RUN) -m toolkit demo

test: $(VENV)/.test
	$(RUN) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.lint
	$(RUN) -m ruff check toolkit tests docs
	$(RUN) -m ruff format --check toolkit tests docs
	$(RUN) -m mypy --strict toolkit
	$(RUN) -m mypy --strict --no-incremental tests/typing/usage.py > $(VENV)/mypy-usage.txt 2>&1 || true
	diff -u tests/typing/expected.txt $(VENV)/mypy-usage.txt

docs: $(VENV)/.docs
	$(RUN) -m sphinx -W --keep-going -b html -q docs docs/_build/html

bench: $(VENV)/.base
	$(RUN) -m toolkit bench

# Build the sdist and the wheel, install the wheel alone into a clean
# environment, and run the command line from it.
dist: $(VENV)/.lint
	rm -rf dist build .venv-wheel
	$(RUN) -m build --no-isolation --outdir dist . > /dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip --disable-pip-version-check -q install "$(TORCH_SPEC)" "$(NUMPY_SPEC)" dist/*.whl
	cd / && $(CURDIR)/.venv-wheel/bin/python -m toolkit info > /dev/null
	cd / && $(CURDIR)/.venv-wheel/bin/python -m toolkit bench --quick > /dev/null
	@echo "dist: $$(ls dist) built; the wheel installs and runs"

$(VENV)/.base: setup.cfg setup.py pyproject.toml
	test -x $(RUN) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)" "$(NUMPY_SPEC)" -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) install "$(TORCH_SPEC)" "$(NUMPY_SPEC)" $(foreach pin,$(TEST_PINS),"$(pin)") -e ".[test,compat,dask,plot]"
	touch $@

$(VENV)/.lint: $(VENV)/.test
	$(PIP) install "$(TORCH_SPEC)" "$(NUMPY_SPEC)" -e ".[lint]" build setuptools wheel
	touch $@

$(VENV)/.docs: $(VENV)/.test
	$(PIP) install "$(TORCH_SPEC)" "$(NUMPY_SPEC)" -e ".[docs,plot]"
	touch $@

clean:
	rm -rf .venv .venv-* build dist docs/_build *.egg-info .cache
