"""Every rule, every declared fixture, every target: compiled queries checked by real parsers and engines.

- DuckDB executes the SQL over the raw records.
- Apache Lucene parses and executes the Lucene query over the records as Elastic stores them.
- Microsoft's Kusto.Language binds every KQL query against AWSCloudTrail; duckdb-kql executes it
  over Sentinel-shaped rows where it supports the operators used (it has no mv-apply).
- Elastic's ES|QL analyzer parses ES|QL against the ECS field types (no local ES|QL engine exists).
- Elastic's `eql` parses EQL and its Python engine executes it (EQL here uses ECS fields only,
  where that engine's case-insensitive `:` agrees with Elasticsearch).
- SPL has no parser outside Splunk: its fields are checked against what the add-on extracts.
A disagreement with a fixture's declared outcome fails and names the target.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from snaptrail.backends import TARGETS
from snaptrail.backends.elastic import ecs_field_types
from snaptrail.convert import Conversion, convert
from snaptrail.engine import CloudTrailStore
from checkers.storage import to_ecs_document, to_splunk_event

from checkers.executors import eql_event_ids, kql_event_ids
from checkers.spl_structure import check_spl
from fixture_cases import RULES, cases_for, rule_files_by_id, single_event_rule_ids

RULE_IDS = single_event_rule_ids()


@cache
def compiled(target: str) -> dict[str, Conversion]:
    return {c.rule_id: c for c in convert([RULES], target)}


def query_or_skip(target: str, rule_id: str) -> str:
    conversion = compiled(target)[rule_id]
    if conversion.limitation:
        pytest.skip(f"{target} cannot express this rule exactly: {conversion.error}")
    assert conversion.ok, f"{target}: {conversion.error}"
    return str(conversion.query)


def assert_outcomes(target: str, rule_id: str, matched: set[str]) -> None:
    cases = cases_for(rule_id)
    wrong = [
        f"{case.label}: expected {'match' if case.expect_match else 'no match'}, {target} said "
        f"{'match' if case.event_id in matched else 'no match'} ({case.note})"
        for case in cases
        if (case.event_id in matched) != case.expect_match
    ]
    assert not wrong, (
        f"{target} disagrees with the fixtures of {rule_files_by_id()[rule_id].name}:\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_has_positive_and_negative_fixtures(rule_id: str) -> None:
    cases = cases_for(rule_id)
    assert any(c.expect_match for c in cases), "no positive fixture"
    assert any(not c.expect_match for c in cases), "no negative look-alike fixture"


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_duckdb_reproduces_fixture_outcomes(rule_id: str) -> None:
    sql = query_or_skip("duckdb", rule_id)
    store = CloudTrailStore()
    store.add((str(case.record_path), case.record) for case in cases_for(rule_id))
    assert_outcomes("duckdb", rule_id, set(store.matching_event_ids(sql)))


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_lucene_reproduces_fixture_outcomes(rule_id: str) -> None:
    from checkers.lucene_checker import run_lucene

    query = query_or_skip("elastic-lucene", rule_id)
    documents = {case.event_id: to_ecs_document(case.record) for case in cases_for(rule_id)}
    result = run_lucene({"q": query}, documents)["q"]
    assert result.error is None, f"Lucene rejected the query: {result.error}"
    assert_outcomes("elastic-lucene", rule_id, set(result.matches))


@pytest.fixture(scope="module")
def kusto():  # type: ignore[no-untyped-def]
    from checkers.kusto_checker import KustoChecker

    with KustoChecker() as checker:
        yield checker


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_kql_binds_in_microsoft_parser(rule_id: str, kusto) -> None:  # type: ignore[no-untyped-def]
    query = query_or_skip("sentinel", rule_id)
    errors = kusto.errors(query)
    assert not errors, "Kusto.Language rejected the query:\n" + "\n".join(
        f"{e.code}: {e.message}" for e in errors
    )


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_kql_executes_on_sentinel_rows(rule_id: str) -> None:
    query = query_or_skip("sentinel", rule_id)
    matched = kql_event_ids(query, [case.record for case in cases_for(rule_id)])
    assert_outcomes("sentinel (duckdb-kql)", rule_id, matched)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_esql_parses_against_ecs_mapping(rule_id: str) -> None:
    import esql
    from esql import ParserConfig, Schema

    query = query_or_skip("elastic-esql", rule_id)
    schema = Schema({"@timestamp": "date", "_id": "keyword", "_index": "keyword", **ecs_field_types()})
    with ParserConfig(schema, min_stack_version="9.5.0"):
        esql.parse_query(query)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_eql_parses_and_executes(rule_id: str) -> None:
    query = query_or_skip("elastic-eql", rule_id)
    matched = eql_event_ids(query, [case.record for case in cases_for(rule_id)])
    assert_outcomes("elastic-eql (eql Python engine)", rule_id, matched)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_spl_uses_only_fields_the_add_on_extracts(rule_id: str) -> None:

    query = query_or_skip("splunk", rule_id)
    extracted: set[str] = set()
    for case in cases_for(rule_id):
        extracted.update(to_splunk_event(case.record))
    problems = check_spl(query, rule_files_by_id()[rule_id], extracted)
    assert not problems, "\n".join(problems)


def test_every_target_compiles_every_rule_or_says_why() -> None:
    for target in TARGETS:
        for rule_id in RULE_IDS:
            conversion = compiled(target)[rule_id]
            assert conversion.ok or conversion.limitation, f"{target}: {conversion.error}"


def test_fixtures_reference_existing_rules_and_records() -> None:
    from fixture_cases import all_cases

    known = rule_files_by_id()
    for case in all_cases():
        assert case.rule_id in known, (
            f"{case.cases_file}: rule_id {case.rule_id} is not a rule in sigma/rules"
        )
        assert Path(case.record_path).is_file(), f"{case.cases_file}: missing record {case.record_path}"
