"""Session-wide fixtures: the shipped corpus (parsed once, compiled once per target), the declared
fixtures, and one Kusto.Language process. Module-level helpers live in `fixture_cases` (corpus and
cases) and `snaptrail.verify.harness` (per-target parsers and engines), so parametrisation can use them
too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snaptrail.corpus import Corpus
from snaptrail.fixtures import Fixtures
from snaptrail.verify import harness
from snaptrail.verify.kusto_checker import KustoChecker

from fixture_cases import fixtures as declared_fixtures
from fixture_cases import rule_corpus

# The tests use the Kusto npm package where `make test-deps` installs it (not the user cache), unless
# the environment names another folder.
os.environ.setdefault("SNAPTRAIL_KUSTO_DIR", str(Path(__file__).resolve().parent / "checkers" / "kusto"))


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """The shipped rules as written (no filters)."""
    return rule_corpus()


@pytest.fixture(scope="session")
def filtered_corpus() -> Corpus:
    """The shipped rules with the shipped filters and snaptrail.yml."""
    return rule_corpus(with_filters=True)


@pytest.fixture(scope="session")
def fixtures() -> Fixtures:
    return declared_fixtures()


@pytest.fixture(scope="session")
def kusto() -> KustoChecker:
    return harness.kusto()
