"""The store a scan's queries run on: a query that needs more than the store's memory limit runs
again with more; one DuckDB cannot run is named, and the other queries' results stand."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from snaptrail.engine import CloudTrailStore, QueryFailure
from snaptrail.scan import scan

from fixture_cases import FILTERS, RULES, all_cases

# Materialises a list of 30 million numbers: far more than 64 MB.
HUNGRY = "SELECT len(list(x)) AS n FROM range(30000000) t(x)"


@pytest.mark.parametrize("threads", [1, 2])
def test_a_query_past_the_memory_limit_runs_again_with_more(threads: int) -> None:
    store = CloudTrailStore(memory_limit="64MB")
    store.add([("f.json", case.record) for case in all_cases()[:3]])
    try:
        results = store.query_all([HUNGRY, "SELECT CAST('x' AS INTEGER) AS n", "SELECT 7 AS n"], threads)
        assert results[0] == [{"n": 30_000_000}]
        assert isinstance(results[1], QueryFailure) and "Conversion Error" in results[1].reason
        assert results[2] == [{"n": 7}]
        limit = store.query("SELECT current_setting('memory_limit') AS limit")[0]["limit"]
        assert limit != "64.0 MiB" and not limit.endswith("KiB")
    finally:
        store.close()


def test_a_rule_duckdb_cannot_run_is_named_and_the_others_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = {case.event_id: case.record for case in all_cases()}
    (tmp_path / "trail.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": list(records.values())}).encode())
    )
    whole = scan([tmp_path], [RULES], filter_paths=[FILTERS])
    original = CloudTrailStore.query_all

    def first_fails(self: CloudTrailStore, statements: list[str], threads: int) -> list[object]:
        results: list[object] = list(original(self, statements, threads))
        results[0] = QueryFailure("Out of Memory Error: failed to allocate data of size 16.0 MiB")
        return results

    monkeypatch.setattr(CloudTrailStore, "query_all", first_fails)
    partial = scan([tmp_path], [RULES], filter_paths=[FILTERS])
    (failure,) = [c for c in partial.failed_rules if c.error and "DuckDB could not run it" in c.error]
    assert "Out of Memory Error" in failure.error
    assert partial.rules == whole.rules - 1
    survivors = [a for a in whole.alerts if a.rule_id != failure.rule_id]
    assert survivors and [(a.rule_id, a.event_ids) for a in partial.alerts] == [
        (a.rule_id, a.event_ids) for a in survivors
    ]
