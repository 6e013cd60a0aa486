# her2stats — two commands for a fresh Debian machine:
#   make demo   install what is missing, run the study pipeline on the embedded demo cohort
#   make test   install what is missing, run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PKGS := r-base-core r-cran-rms r-cran-proc r-cran-survival r-cran-glmnet r-cran-psych \
            r-cran-readxl r-cran-jsonlite r-cran-testthat r-cran-mass r-cran-hmisc r-cran-riskregression r-bioc-sva r-cran-cmprsk \
            r-cran-metafor r-cran-lme4 \
            r-cran-brglm2 r-cran-mice \
            pandoc chromium poppler-utils fonts-liberation2 \
            gcc python3-dev
PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
PY_STAMP := $(VENV)/.installed-$(PYPROJECT_HASH)
# pyradiomics (radiomic features, seeds 003/004; its C extensions need gcc and python3-dev above):
# 3.0.1, built from its sdist WITHOUT build isolation
# (its setup.py imports numpy and versioneer at build time; 3.1.0's sdist lacks cmatrices.h), so it
# is its own step after the editable install has put numpy in the virtualenv
PYRADIOMICS := 3.0.1
RAD_STAMP := $(VENV)/.pyradiomics-$(PYRADIOMICS)
PYTEST_ARGS ?=
# what `make test` / `make demo` install first; .ci/run sets it empty because it runs the tests on
# a copy of the clone with the clone's (already installed) virtualenv
INSTALL ?= install

.PHONY: demo test install install-system install-python bench clean

demo: $(INSTALL)
	$(VENV)/bin/her2stats demo --out out/demo

test: $(INSTALL)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

install: install-system install-python

# Debian packages: installed only when one is missing (dpkg says so), so re-runs are instant.
install-system:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi

# Python packages into a project virtualenv; re-installed only when pyproject.toml changes.
# JupyterLab comes with the install, and a `her2stats` kernel is registered inside the
# virtualenv (--sys-prefix), so `.venv/bin/jupyter lab` offers it.
install-python: $(PY_STAMP) $(RAD_STAMP)

$(PY_STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[all]'
	$(PY) -m ipykernel install --sys-prefix --name her2stats --display-name "Python (her2stats)"
	rm -f $(VENV)/.installed-*
	touch $@

# fails loudly: a build error stops make (the radiomics tests and seed steps need it)
$(RAD_STAMP): $(PY_STAMP)
	$(PY) -m pip install -q versioneer
	$(PY) -m pip install -q --no-build-isolation 'pyradiomics==$(PYRADIOMICS)' || \
	  { echo "ERROR: pyradiomics $(PYRADIOMICS) did not build (needs a C compiler and Python headers: apt-get install build-essential python3-dev)" >&2; exit 1; }
	$(PY) -c "import radiomics.featureextractor, radiomics._cmatrices"
	rm -f $(VENV)/.pyradiomics-*
	touch $@

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf out .pytest_cache build *.egg-info
