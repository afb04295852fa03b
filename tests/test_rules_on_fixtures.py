"""Every rule on every target: compiled queries checked by the real parsers; golden SPL; pinned limits.

Every declared fixture's outcome on every engine is proven by `snaptrail test` itself (the product's
one judge, `snaptrail.verify.run`), run once over the shipped corpus in tests/test_cli_test.py.

Which checker and engine serve each target is `snaptrail.verify.harness.HARNESSES`:
- DuckDB executes the SQL over the raw records.
- Apache Lucene parses and executes the Lucene query over the records as Elastic stores them.
- Microsoft's Kusto.Language binds every KQL query against AWSCloudTrail; duckdb-kql executes it
  over Sentinel-shaped rows where it supports the operators used (it has no mv-apply).
- Elastic's ES|QL analyzer parses ES|QL against the ECS field types (no local ES|QL engine exists).
- Elastic's `eql` parses EQL and its Python engine executes it (EQL here uses ECS fields only,
  where that engine's case-insensitive `:` agrees with Elasticsearch).
- SPL has no parser outside Splunk: its fields are checked against what the add-on extracts.

What a target cannot express, and what an engine here cannot run, is pinned in
`tests/expected_limits.yml`; those pairs are asserted to stay limited, never skipped.
"""

from __future__ import annotations

import pytest

from snaptrail.backends import TARGETS
from snaptrail.corpus import Conversion
from snaptrail.verify.harness import HARNESSES
from snaptrail.verify.storage import to_splunk_event

from checkers.golden import assert_golden_spl
from checkers.spl_structure import check_spl
from expected_limits import expected_unsupported
from fixture_cases import cases_for, rule_corpus, rule_files_by_id, single_event_rule_ids

RULE_IDS = single_event_rule_ids()
NAMES = {info.id: info.name for info in rule_corpus().rules}


def supported_pairs(*targets: str) -> list[tuple[str, str]]:
    """(target, rule id) for every single-event rule the target is expected to express."""
    return [
        pytest.param(target, rule_id, id=f"{target}-{NAMES[rule_id]}")  # type: ignore[misc]
        for target in targets
        for rule_id in RULE_IDS
        if NAMES[rule_id] not in expected_unsupported(target)
    ]


def compiled(target: str, rule_id: str) -> Conversion:
    return rule_corpus().compiled(target)[rule_id]


def query_of(target: str, rule_id: str) -> str:
    conversion = compiled(target, rule_id)
    assert conversion.ok, f"{target} no longer expresses {NAMES[rule_id]}: {conversion.error}" + (
        " (pin it in tests/expected_limits.yml only if that is intended)" if conversion.limitation else ""
    )
    return str(conversion.query)


def assert_outcomes(target: str, rule_id: str, matched: set[str]) -> None:
    wrong = [
        f"{case.label}: {target} said {'match' if case.event_id in matched else 'no match'} ({case.note})"
        for case in cases_for(rule_id)
        if (case.event_id in matched) != case.expect_match
    ]
    assert not wrong, f"{target} disagrees with the fixtures of {NAMES[rule_id]}:\n" + "\n".join(wrong)


def test_unsupported_set_is_pinned() -> None:
    for target in TARGETS:
        actual = sorted(
            NAMES[rule_id] for rule_id, c in rule_corpus().compiled(target).items() if c.limitation
        )
        assert actual == sorted(expected_unsupported(target)), (
            f"{target}: the rules it cannot express changed; newly unsupported: "
            f"{sorted(set(actual) - set(expected_unsupported(target)))}, newly supported: "
            f"{sorted(set(expected_unsupported(target)) - set(actual))}"
        )


def test_every_target_compiles_every_rule_or_says_why() -> None:
    for target in TARGETS:
        for conversion in rule_corpus().compiled(target).values():
            assert conversion.ok or conversion.limitation, f"{target}: {conversion.error}"


@pytest.mark.parametrize("rule_id", RULE_IDS, ids=[NAMES[r] for r in RULE_IDS])
def test_rule_has_positive_and_negative_fixtures(rule_id: str) -> None:
    cases = cases_for(rule_id)
    assert any(c.expect_match for c in cases), "no positive fixture"
    assert any(not c.expect_match for c in cases), "no negative look-alike fixture"


# Lucene parses in the batch `snaptrail test` runs (one JVM for every rule).
PARSED = [name for name, h in HARNESSES.items() if h.parse is not None and name != "elastic-lucene"]


@pytest.mark.parametrize(("target", "rule_id"), supported_pairs(*PARSED))
def test_query_is_accepted_by_the_real_parser(target: str, rule_id: str) -> None:
    parse = HARNESSES[target].parse
    assert parse is not None
    errors = parse(query_of(target, rule_id))
    assert not errors, f"{HARNESSES[target].parser} rejected the query:\n" + "\n".join(errors)


@pytest.mark.parametrize(("target", "rule_id"), supported_pairs("splunk"))
def test_spl_matches_golden_and_uses_only_fields_the_add_on_extracts(target: str, rule_id: str) -> None:
    extracted: set[str] = set()
    for case in cases_for(rule_id):
        extracted.update(to_splunk_event(case.record))
    rule = rule_corpus().by_id[rule_id]
    query = query_of(target, rule_id)
    assert_golden_spl(NAMES[rule_id], query)
    problems = check_spl(query, rule, extracted)
    assert not problems, "\n".join(problems)


def test_fixtures_reference_existing_rules() -> None:
    from fixture_cases import fixtures

    known = rule_files_by_id()
    for case in [*fixtures().records, *fixtures().chains]:
        assert case.rule_id in known, f"{case.cases_file}: rule_id {case.rule_id} is no rule in sigma/rules"
