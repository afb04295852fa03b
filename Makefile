# Two entry points, as in the README: `make build` (every artifact into dist/) and `make test`.
# Both create .venv with the pinned versions (constraints.txt) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KUSTO_DIR := tests/checkers/kusto
APPINSPECT := .venv-appinspect/bin/splunk-appinspect

.PHONY: build test venv test-deps lint clean property-long

$(BIN)/snaptrail: pyproject.toml constraints.txt $(shell find snaptrail backends build -name '*.py' -o -name '*.yml' -o -name '*.json' 2>/dev/null)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt ".[test]"
	# Elastic's ES|QL parser declares Python >= 3.12 but runs on 3.11 (see README, "Proof per target").
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -c constraints.txt detection-rules-esql-py
	touch $(BIN)/snaptrail

venv: $(BIN)/snaptrail

build: venv
	$(BIN)/snaptrail build --out dist --update-readme README.md

# Non-Python checkers: Apache Lucene (Java) and Chromium from Debian, Microsoft's KQL parser from
# npm, and Splunk AppInspect in a venv of its own (a tool with its own pins, not a library of ours).
DEBIAN_PACKAGES := liblucene8-java default-jdk-headless chromium
test-deps: venv $(APPINSPECT)
	@missing=""; \
	ls /usr/share/java/lucene-core*.jar >/dev/null 2>&1 || missing="yes"; \
	command -v javac >/dev/null || missing="yes"; \
	command -v chromium >/dev/null || missing="yes"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	fi
# Microsoft's KQL parser (npm) where the tests look (tests/conftest.py); a no-op when the pinned version is there.
	SNAPTRAIL_KUSTO_DIR=$(KUSTO_DIR) $(BIN)/snaptrail test --install-checkers

$(APPINSPECT): tests/checkers/appinspect-requirements.txt
	test -x .venv-appinspect/bin/python || $(PYTHON) -m venv .venv-appinspect
	.venv-appinspect/bin/python -m pip install --quiet -r tests/checkers/appinspect-requirements.txt
	touch $(APPINSPECT)

test: test-deps
	$(BIN)/pytest  # not `python -m pytest`: that puts the repo root (and its source folders) on sys.path
	$(BIN)/ruff check .

# The property suite's long run (tests/property): >= 10,000 generated rules per target, shrinking on,
# an outcome table per target at the end. `make test` runs the same suite with the bounded `ci` profile.
property-long: test-deps
	HYPOTHESIS_PROFILE=long $(BIN)/pytest tests/property -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .venv-appinspect dist .setuptools-build *.egg-info
