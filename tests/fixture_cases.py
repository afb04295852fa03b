"""The shipped corpus and its fixtures, loaded once per test session and shared by every test module.

Rules are parsed once (`snaptrail.corpus.Corpus`) and fixtures read once (`snaptrail.fixtures`, the one
`cases.yml` reader the product uses too); the compiled table is cached per target by the corpus.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from snaptrail.config import Config, load_config
from snaptrail.corpus import Corpus
from snaptrail.fixtures import ChainCase, Fixtures, RecordCase, load_fixtures

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
RULES = REPO / "sigma" / "rules"
FILTERS = REPO / "sigma" / "filters"
SHIPPED_CONFIG = REPO / "snaptrail.yml"

Case = RecordCase

__all__ = [
    "FILTERS", "FIXTURES", "REPO", "RULES", "SHIPPED_CONFIG", "Case", "ChainCase", "all_cases",
    "cases_for", "chain_cases_for", "fixtures", "rule_corpus", "rule_files_by_id", "single_event_rule_ids",
]  # fmt: skip


@cache
def rule_corpus(with_filters: bool = False) -> Corpus:
    """The shipped rules as written (no filters), or with the shipped filters and snaptrail.yml."""
    if with_filters:
        return Corpus.load([RULES], [FILTERS], shipped_config())
    return Corpus.load([RULES])


@cache
def shipped_config() -> Config:
    return load_config(SHIPPED_CONFIG)


@cache
def fixtures() -> Fixtures:
    loaded = load_fixtures([FIXTURES])
    if loaded.problems:
        raise ValueError("fixture declarations are broken:\n" + "\n".join(p.text() for p in loaded.problems))
    return loaded


def all_cases() -> tuple[RecordCase, ...]:
    return tuple(fixtures().records)


def cases_for(rule_id: str) -> list[RecordCase]:
    return [case for case in fixtures().records if case.rule_id == rule_id]


def chain_cases_for(rule_id: str) -> list[ChainCase]:
    return [case for case in fixtures().chains if case.rule_id == rule_id]


@cache
def rule_files_by_id() -> dict[str, Path]:
    return {str(rule.id): Path(str(rule.source.path)) for rule in rule_corpus().collection.rules}


@cache
def single_event_rule_ids() -> list[str]:
    """Rules other than chains (correlation rules), which tests/test_chains.py proves."""
    return sorted(info.id for info in rule_corpus().rules if not info.is_chain)


@cache
def chain_rule_ids() -> list[str]:
    return sorted(info.id for info in rule_corpus().rules if info.is_chain)
