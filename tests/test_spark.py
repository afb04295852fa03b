"""The `spark` target on Apache Spark (pyspark, local mode): every fixture and chain case, against the
declared outcomes and against DuckDB, the reference engine; `scan_on_spark` against `snaptrail scan`.

Spark pays for a job per query, so the cases are batched: all fixture records in one record set (each
eventID tagged with its case, since fixtures of different rules share eventIDs), and per chain all its
cases in one trail, each case moved 30 days from the others (its timing kept to the second, so bucket
edges stay where they were) - no window spans two cases, which the test asserts.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule

from snaptrail.backends.spark import spark_string
from snaptrail.corpus import Corpus
from snaptrail.engine import CloudTrailStore
from snaptrail.scan import scan
from snaptrail.spark_scan import scan_on_spark
from snaptrail.verify.harness import HARNESSES
from snaptrail.verify.run import BURSTS, _normalise
from snaptrail.verify.spark import spark_batch, spark_chain_alerts, spark_errors

from fixture_cases import FILTERS, FIXTURES, RULES, chain_cases_for, chain_rule_ids, fixtures, rule_corpus

APART = timedelta(days=30)


def corpus() -> Any:
    return rule_corpus()  # the rules as written, as `snaptrail test` judges the fixtures


def _tag(record: dict[str, Any], tag: str, shift: timedelta = timedelta()) -> dict[str, Any]:
    record = copy.deepcopy(record)
    record["eventID"] = f"{tag}/{record['eventID']}"
    if shift:
        at = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")) + shift
        record["eventTime"] = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return record


@cache
def fixture_records() -> tuple[dict[str, Any], ...]:
    return tuple(_tag(case.record, str(index)) for index, case in enumerate(fixtures().records))


@cache
def rule_queries() -> dict[str, str]:
    compiled = corpus().compiled("spark")
    return {rule_id: str(c.query) for rule_id, c in compiled.items() if c.ok and not c.chain}


@pytest.fixture(scope="module")
def spark_matches() -> dict[str, set[str]]:
    return spark_batch(rule_queries(), fixture_records())


def test_every_rule_and_chain_compiles_for_spark() -> None:
    compiled = corpus().compiled("spark")
    assert compiled and all(c.ok for c in compiled.values()), [str(c.error) for c in compiled.values()]


def test_every_fixture_case_on_spark(spark_matches: dict[str, set[str]]) -> None:
    wrong = []
    for index, case in enumerate(fixtures().records):
        if case.rule_id not in spark_matches:
            continue
        matched = f"{index}/{case.event_id}" in spark_matches[case.rule_id]
        if matched != case.expect_match:
            wrong.append(f"{case.cases_file}:{case.line}: {case.declared}: spark said match={matched}")
    assert not wrong, "\n".join(wrong)
    assert set(spark_matches) == {case.rule_id for case in fixtures().records} & set(rule_queries())


def test_spark_agrees_with_duckdb_on_every_fixture_record(spark_matches: dict[str, set[str]]) -> None:
    duckdb = corpus().compiled("duckdb")
    store = CloudTrailStore()
    try:
        store.add((f"record[{i}]", r) for i, r in enumerate(fixture_records()))
        for rule_id, matched in spark_matches.items():
            expected = set(store.matching_event_ids(str(duckdb[rule_id].query)))
            assert matched == expected, (corpus().by_id[rule_id].title, matched ^ expected)
    finally:
        store.close()


def _chain_trail(rule_id: str) -> list[dict[str, Any]]:
    return [
        _tag(record, str(index), APART * index)
        for index, case in enumerate(chain_cases_for(rule_id))
        for record in case.records
    ]


def _by_case(alerts: list[list[str]], cases: int) -> list[list[list[str]]]:
    split: list[list[list[str]]] = [[] for _ in range(cases)]
    for alert in alerts:
        tags = {event_id.split("/", 1)[0] for event_id in alert}
        assert len(tags) == 1, f"an alert spans two cases: {alert}"
        split[int(tags.pop())].append([event_id.split("/", 1)[1] for event_id in alert])
    return split


@pytest.mark.parametrize("rule_id", chain_rule_ids(), ids=lambda r: corpus().by_id[r].name)
def test_every_chain_case_on_spark_as_on_duckdb(rule_id: str) -> None:
    rule = corpus().by_id[rule_id]
    assert isinstance(rule, SigmaCorrelationRule)
    assert rule.timespan.seconds < APART.total_seconds()
    cases = chain_cases_for(rule_id)
    trail = _chain_trail(rule_id)
    query = str(corpus().compiled("spark")[rule_id].query)
    on_spark = _by_case(spark_chain_alerts(query, trail), len(cases))
    duckdb_chain = HARNESSES["duckdb"].execute_chain
    assert duckdb_chain is not None
    on_duckdb = _by_case(duckdb_chain(str(corpus().compiled("duckdb")[rule_id].query), trail), len(cases))
    burst = str(rule.type) in BURSTS
    for case, spark_alerts, duckdb_alerts in zip(cases, on_spark, on_duckdb, strict=True):
        where = f"{case.cases_file}:{case.line}: {case.declared}"
        assert _normalise(spark_alerts, burst) == _normalise(case.expect, burst), where
        assert _normalise(spark_alerts, burst) == _normalise(duckdb_alerts, burst), where


def test_spark_analyzer_rejects_what_spark_cannot_run() -> None:
    assert spark_errors("SELECT * FROM cloudtrail WHERE lower(`eventName`) = 'x'") == []
    errors = spark_errors("SELECT * FROM cloudtrail WHERE no_such_column = 1")
    assert errors and "no_such_column" in errors[0]
    assert spark_errors("SELECT * FROM cloudtrail WHERE (")


@pytest.mark.parametrize(
    "text", ["plain", "it's", "back\\slash", "\\'", "%_", "new\nline", "ünï\u0301cödé 😀", "\\u0041"]
)
def test_string_literals_reach_spark_unchanged(text: str) -> None:
    # One record whose userAgent is the text; the literal must compare equal to it.
    record = {"eventVersion": "1.11", "eventID": "e", "eventTime": "2026-01-01T00:00:00Z",
              "eventSource": "ec2.amazonaws.com", "eventName": "X", "userAgent": text}  # fmt: skip
    query = f"SELECT * FROM cloudtrail WHERE get_json_object(raw, '$.userAgent') = {spark_string(text)}"
    assert spark_batch({"q": query}, [record]) == {"q": {"e"}}


def test_scan_on_spark_gives_the_alerts_of_scan(tmp_path: Path) -> None:
    """The fixtures folder as logs (single records, pretty-printed trails), and the same records again
    as CloudTrail delivers them to S3 (gzip'd compact trail files in the AWSLogs layout, JSON lines):
    read by Spark itself, every record kept once, the same alerts as `snaptrail scan` on DuckDB."""
    import gzip

    logs = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2026" / "03" / "02"
    logs.mkdir(parents=True)
    trails = [case.records for rule_id in chain_rule_ids() for case in chain_cases_for(rule_id)]
    for index, records in enumerate(trails):
        body = json.dumps({"Records": records}, separators=(",", ":")).encode()
        (logs / f"111122223333_CloudTrail_eu-west-1_{index:04d}.json.gz").write_bytes(gzip.compress(body))
    (tmp_path / "records.jsonl").write_text(
        "\n".join(json.dumps(case.record) for case in fixtures().records) + "\n", encoding="utf-8"
    )
    paths = [FIXTURES, tmp_path]
    expected = scan(paths, [RULES], None, [FILTERS]).alerts
    alerts = scan_on_spark(paths, Corpus.load([RULES], [FILTERS]))
    assert expected, "the fixtures raise alerts"
    # Sorted again: scan's order reads the event lists, which differ where ties are broken differently.
    assert sorted(map(_determined, alerts)) == sorted(map(_determined, expected))
    assert all(a.as_dict()["file"] for a in alerts)


def _determined(found: Any) -> str:
    """An alert as the chain semantics determine it: rule, time, who and where, its last event and how
    many events it lists. Not the file (Spark names it by URI and position), nor which of several
    equally late-starting chains is the evidence, nor a burst's order among equal timestamps: DuckDB
    breaks those ties arbitrarily (test_every_chain_case_on_spark_as_on_duckdb checks each case's
    evidence against the declared one)."""
    alert = found.as_dict()
    ids = alert["event_ids"]
    kept = {key: value for key, value in alert.items() if key not in ("file", "event_ids")}
    if alert["rule_id"] in _burst_ids():
        return json.dumps({**kept, "events": sorted(ids)}, sort_keys=True)  # the window, in any order
    return json.dumps({**kept, "last_event": ids[-1], "events": len(ids)}, sort_keys=True)


@cache
def _burst_ids() -> frozenset[str]:
    chains = [(i, r) for i, r in corpus().by_id.items() if isinstance(r, SigmaCorrelationRule)]
    return frozenset(rule_id for rule_id, rule in chains if str(rule.type) in BURSTS)
