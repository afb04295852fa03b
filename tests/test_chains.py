"""Chains (Sigma correlation rules) on every target, against multi-event fixtures.

Each chain has `tests/fixtures/chains/<chain>/cases.yml`: every case is a trail log file
(`{"Records": [...]}`) and the alerts the chain must raise on it, each alert as the list of its
events' eventIDs in chain order (for bursts, the events in the window, order ignored). Cases cover
chains that straddle 5- and 10-minute bucket edges (must fire), the reverse order, other keys,
just outside the window and interleaved noise (must not fire).

DuckDB executes every chain; the eql Python engine executes the EQL sequences; duckdb-kql executes
the KQL where it supports every operator used; Kusto.Language binds every KQL chain; SPL is checked
structurally (no SPL engine exists outside Splunk).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from snaptrail.convert import Conversion, convert
from snaptrail.engine import CloudTrailStore

from checkers.executors import eql_results, kql_chain_alerts
from checkers.kusto_checker import KustoChecker
from fixture_cases import FIXTURES, RULES

CHAINS = FIXTURES / "chains"


@cache
def chain_rules() -> dict[str, dict[str, Any]]:
    rules = {}
    for path in sorted((RULES / "chains").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules[str(data["id"])] = {"path": path, "data": data}
    return rules


@cache
def chain_cases() -> dict[str, list[dict[str, Any]]]:
    cases: dict[str, list[dict[str, Any]]] = {}
    for cases_file in sorted(CHAINS.glob("*/cases.yml")):
        data = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
        for case in data["cases"]:
            records = json.loads((cases_file.parent / case["records"]).read_text(encoding="utf-8"))["Records"]
            cases.setdefault(str(data["rule_id"]), []).append(
                {"name": f"{cases_file.parent.name}/{case['records']}", "records": records,
                 "expect": [list(alert) for alert in case["expect"]], "note": case.get("note", "")}
            )  # fmt: skip
    return cases


@cache
def compiled(target: str) -> dict[str, Conversion]:
    return {c.rule_id: c for c in convert([RULES], target) if c.rule_id in chain_rules()}


CHAIN_IDS = sorted(chain_rules())


def _is_burst(rule_id: str) -> bool:
    return chain_rules()[rule_id]["data"]["correlation"]["type"] in ("event_count", "value_count")


def _normalise(rule_id: str, alerts: list[list[str]]) -> list[Any]:
    if _is_burst(rule_id):
        return sorted(sorted(alert) for alert in alerts)
    return sorted(alerts)


def _query(target: str, rule_id: str) -> str:
    conversion = compiled(target)[rule_id]
    if conversion.limitation:
        pytest.skip(f"{target} cannot express this chain: {conversion.error}")
    assert conversion.ok, conversion.error
    return str(conversion.query)


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_chain_has_firing_and_non_firing_cases(rule_id: str) -> None:
    cases = chain_cases().get(rule_id, [])
    assert any(case["expect"] for case in cases), "no case where the chain fires"
    assert any(not case["expect"] for case in cases), "no look-alike case where it must not fire"


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_duckdb_chains(rule_id: str) -> None:
    query = _query("duckdb", rule_id)
    for case in chain_cases()[rule_id]:
        store = CloudTrailStore()
        store.add((f"{case['name']}[{i}]", record) for i, record in enumerate(case["records"]))
        alerts = [list(row["event_ids"]) for row in store.query(query)]
        assert _normalise(rule_id, alerts) == _normalise(rule_id, case["expect"]), (
            f"{case['name']}: {case['note']}"
        )


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_eql_chains(rule_id: str) -> None:
    query = _query("elastic-eql", rule_id)
    for case in chain_cases()[rule_id]:
        found = eql_results(query, case["records"])
        # The engine reports every sequence; snaptrail's semantics raise one alert per burst crossing.
        assert bool(found) == bool(case["expect"]), f"{case['name']}: {case['note']} (eql found {found})"


@pytest.fixture(scope="module")
def kusto():  # type: ignore[no-untyped-def]
    with KustoChecker() as checker:
        yield checker


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_kql_chains_bind(rule_id: str, kusto) -> None:  # type: ignore[no-untyped-def]
    errors = kusto.errors(_query("sentinel", rule_id))
    assert not errors, [f"{e.code}: {e.message}" for e in errors]


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_kql_chains_execute(rule_id: str) -> None:
    query = _query("sentinel", rule_id)
    for case in chain_cases()[rule_id]:
        alerts = kql_chain_alerts(query, case["records"])
        assert _normalise(rule_id, alerts) == _normalise(rule_id, case["expect"]), (
            f"{case['name']}: {case['note']}"
        )


@pytest.mark.parametrize("rule_id", CHAIN_IDS)
def test_spl_chains_are_well_formed(rule_id: str) -> None:
    from checkers.spl_structure import check_spl_chain

    problems = check_spl_chain(_query("splunk", rule_id), chain_rules()[rule_id]["data"])
    assert not problems, problems


def test_bucketed_windows_would_miss_what_sliding_windows_catch() -> None:
    """The reason for sliding windows, shown on the fixtures: at least one firing case per
    ordered chain family straddles a 5- or 10-minute bucket edge."""
    straddling = 0
    for rule_id, cases in chain_cases().items():
        for case in cases:
            if not case["expect"] or _is_burst(rule_id):
                continue
            times = {
                r["eventID"]: datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00"))
                for r in case["records"]
            }
            for alert in case["expect"]:
                first, last = times[alert[0]], times[alert[-1]]
                for minutes in (5, 10):
                    bucket = minutes * 60
                    if int(first.timestamp()) // bucket != int(last.timestamp()) // bucket:
                        straddling += 1
    assert straddling >= 3, "the fixtures should include chains across bucket edges"


def test_scan_reports_chains_with_their_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snaptrail.cli import main

    rule_id, case = next(
        (rule_id, case) for rule_id, cases in sorted(chain_cases().items()) for case in cases
        if case["expect"] and not _is_burst(rule_id)
    )  # fmt: skip
    (tmp_path / "trail.json").write_text(json.dumps({"Records": case["records"]}), encoding="utf-8")
    assert main(["scan", str(tmp_path), "--rules", str(RULES), "--filters", "--format", "jsonl"]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    chain_alerts = [a for a in alerts if a["rule_id"] == rule_id]
    assert [a["event_ids"] for a in chain_alerts] == case["expect"]
