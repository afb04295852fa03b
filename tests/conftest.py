"""Session-wide fixtures: the shipped corpus (parsed once, compiled once per target), the declared
fixtures, and one Kusto.Language process. Module-level helpers live in `fixture_cases` (corpus and
cases) and `checkers.harness` (per-target parsers and engines), so parametrisation can use them too."""

from __future__ import annotations

import pytest

from snaptrail.corpus import Corpus
from snaptrail.fixtures import Fixtures

from checkers import harness
from checkers.kusto_checker import KustoChecker
from fixture_cases import fixtures as declared_fixtures
from fixture_cases import rule_corpus


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
