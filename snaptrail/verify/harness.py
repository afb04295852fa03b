"""One place per target: which real checker parses its queries and which engine executes them.

A new target's tests are one `Harness` entry here; `snaptrail test` (`snaptrail.verify.run`),
`tests/test_rules_on_fixtures.py`, `tests/test_chains.py`, `tests/test_semantics.py` and
`tests/test_allowlists.py` iterate this table.

- `parse(query)` returns the real parser's or binder's errors (empty list: accepted); None when no
  parser for that language runs here (SPL).
- `execute(query, records)` returns the eventIDs a single-event query matches over the records as that
  SIEM stores them; `execute_chain(query, records)` the alerts (eventID lists) a chain query raises.
  Either raises `ExecutorLimit` when the engine here cannot run a query the SIEM can (duckdb-kql has no
  mv-apply); which (rule, target) pairs do so is pinned in the repository's `tests/expected_limits.yml`.

The optional engines (eql, duckdb-kql, the ES|QL analyzer) are imported when first called, so this
module imports without them; `snaptrail.verify.runtimes` says which are there.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from snaptrail.backends.elastic import ecs_field_types
from snaptrail.engine import CloudTrailStore
from snaptrail.verify.executors import ExecutorLimit, eql_results, kql_chain_alerts, kql_event_ids
from snaptrail.verify.kusto_checker import KustoChecker, kusto_dir
from snaptrail.verify.lucene_checker import run_lucene
from snaptrail.verify.spark import spark_chain_alerts, spark_errors, spark_event_ids  # pyspark on first use
from snaptrail.verify.storage import to_ecs_document

Records = Iterable[dict[str, Any]]

__all__ = ["HARNESSES", "ExecutorLimit", "Harness", "kusto", "lucene_batch"]


def kusto(directory: Path | None = None) -> KustoChecker:
    """One Kusto.Language process per npm folder (default `kusto_checker.kusto_dir()`) for the whole
    process: a test session or one `snaptrail test` run."""
    return _kusto_in((directory if directory is not None else kusto_dir()).resolve())


@cache
def _kusto_in(directory: Path) -> KustoChecker:
    checker = KustoChecker(directory=directory)
    atexit.register(checker.close)
    return checker


def kql_errors(query: str, directory: Path | None = None) -> list[str]:
    return [f"{e.code}: {e.message}" for e in kusto(directory).errors(query)]


def _kql_errors(query: str) -> list[str]:
    return kql_errors(query)


def _esql_errors(query: str) -> list[str]:
    import esql
    from esql import ParserConfig, Schema

    schema = Schema({"@timestamp": "date", "_id": "keyword", "_index": "keyword", **ecs_field_types()})
    try:
        with ParserConfig(schema, min_stack_version="9.5.0"):
            esql.parse_query(query)
    except Exception as error:  # the analyzer raises its own exception types for every rejection
        return [f"{type(error).__name__}: {error}"]
    return []


def _eql_errors(query: str) -> list[str]:
    import eql
    from eql.parser import allow_runs, elasticsearch_syntax, ignore_missing_functions

    try:
        with elasticsearch_syntax, ignore_missing_functions, allow_runs:
            eql.parse_query(query)
    except eql.EqlError as error:
        return [str(error)]
    return []


def lucene_batch(queries: dict[str, str], records: Records) -> dict[str, frozenset[str]]:
    """Many queries over the same documents in one JVM (starting Java is most of the cost)."""
    documents = {str(r["eventID"]): to_ecs_document(r) for r in records}
    results = run_lucene(queries, documents)
    out = {}
    for query_id, result in results.items():
        if result.error is not None:
            raise AssertionError(f"Lucene rejected query {query_id}: {result.error}")
        out[query_id] = result.matches
    return out


def _lucene_errors(query: str) -> list[str]:
    result = run_lucene({"q": query}, {})["q"]
    return [result.error] if result.error else []


def _lucene_execute(query: str, records: Records) -> set[str]:
    return set(lucene_batch({"q": query}, records)["q"])


def _duckdb_execute(query: str, records: Records) -> set[str]:
    store = CloudTrailStore()
    try:
        store.add((f"record[{i}]", record) for i, record in enumerate(records))
        return set(store.matching_event_ids(query))
    finally:
        store.close()


def _duckdb_chain(query: str, records: Records) -> list[list[str]]:
    store = CloudTrailStore()
    try:
        store.add((f"record[{i}]", record) for i, record in enumerate(records))
        return [[str(i) for i in row["event_ids"]] for row in store.query(query)]
    finally:
        store.close()


def _duckdb_errors(query: str) -> list[str]:
    import duckdb

    store = CloudTrailStore()
    try:
        store.query(f"EXPLAIN {query}")
    except duckdb.Error as error:
        return [str(error)]
    finally:
        store.close()
    return []


def _eql_execute(query: str, records: Records) -> set[str]:
    return {event_id for result in eql_results(query, records) for event_id in result}


@dataclass(frozen=True)
class Harness:
    target: str
    parser: str  # what checks the syntax, in words (README, "Proof per target")
    engine: str  # what executes, in words; "" when nothing does
    parse: Callable[[str], list[str]] | None
    execute: Callable[[str, Records], set[str]] | None
    execute_chain: Callable[[str, Records], list[list[str]]] | None


HARNESSES: dict[str, Harness] = {
    harness.target: harness
    for harness in (
        Harness("duckdb", "DuckDB (EXPLAIN)", "DuckDB", _duckdb_errors, _duckdb_execute, _duckdb_chain),
        Harness(
            "elastic-lucene",
            "Apache Lucene's classic QueryParser",
            "Lucene MemoryIndex over the ECS documents",
            _lucene_errors,
            _lucene_execute,
            None,
        ),
        Harness(
            "elastic-eql",
            "Elastic's eql parser",
            "the eql Python engine over the ECS documents",
            _eql_errors,
            _eql_execute,
            lambda query, records: eql_results(query, records),
        ),
        Harness("elastic-esql", "Elastic's ES|QL analyzer (stack 9.5)", "", _esql_errors, None, None),
        Harness(
            "sentinel",
            "Microsoft's Kusto.Language binder against AWSCloudTrail",
            "duckdb-kql over Sentinel rows",
            _kql_errors,
            kql_event_ids,
            kql_chain_alerts,
        ),
        Harness("splunk", "none (structural checks only)", "", None, None, None),
        Harness(
            "spark",
            "Apache Spark SQL's parser and analyzer (pyspark)",
            "Apache Spark in local mode over the records read as trail files",
            spark_errors,
            spark_event_ids,
            spark_chain_alerts,
        ),
    )
}
