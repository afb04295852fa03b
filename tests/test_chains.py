"""Chains (Sigma correlation rules) on every target, against multi-event fixtures.

Each chain has `tests/fixtures/chains/<chain>/cases.yml`: every case is a trail log file
(`{"Records": [...]}`) and the alerts the chain must raise on it, each alert as the list of its
events' eventIDs in chain order (for bursts, the events in the window, order ignored). Cases cover
chains that straddle 5- and 10-minute bucket edges (must fire), the reverse order, other keys,
just outside the window and interleaved noise (must not fire).

The engines are those of `snaptrail.verify.harness`: DuckDB executes every chain; the eql Python engine
executes the EQL sequences; duckdb-kql executes the KQL where it supports every operator used (the
rest is pinned in tests/expected_limits.yml); Kusto.Language binds every KQL chain; SPL is compared
with golden searches and checked structurally (no SPL engine exists outside Splunk).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule

from snaptrail.verify.harness import HARNESSES
from snaptrail.verify.run import BURSTS

from checkers.golden import assert_golden_spl
from checkers.spl_structure import check_spl_chain
from expected_limits import expected_unsupported
from fixture_cases import RULES, chain_cases_for, chain_rule_ids, rule_corpus

CHAIN_IDS = chain_rule_ids()
NAMES = {info.id: info.name for info in rule_corpus().rules}


def chain_rule(rule_id: str) -> SigmaCorrelationRule:
    rule = rule_corpus().by_id[rule_id]
    assert isinstance(rule, SigmaCorrelationRule)
    return rule


def _is_burst(rule_id: str) -> bool:
    return str(chain_rule(rule_id).type) in BURSTS  # .value is a number in pySigma 1.5


def pairs(*targets: str) -> list[Any]:
    return [
        pytest.param(target, rule_id, id=f"{target}-{NAMES[rule_id]}")
        for target in targets
        for rule_id in CHAIN_IDS
        if NAMES[rule_id] not in expected_unsupported(target)
    ]


def _query(target: str, rule_id: str) -> str:
    conversion = rule_corpus().compiled(target)[rule_id]
    assert conversion.ok, f"{target} no longer expresses {NAMES[rule_id]}: {conversion.error}"
    assert conversion.chain
    return str(conversion.query)


@pytest.mark.parametrize("rule_id", CHAIN_IDS, ids=[NAMES[r] for r in CHAIN_IDS])
def test_chain_has_firing_and_non_firing_cases(rule_id: str) -> None:
    cases = chain_cases_for(rule_id)
    assert any(case.expect for case in cases), "no case where the chain fires"
    assert any(not case.expect for case in cases), "no look-alike case where it must not fire"


@pytest.mark.parametrize(("target", "rule_id"), pairs("sentinel", "elastic-eql", "duckdb"))
def test_chain_is_accepted_by_the_real_parser(target: str, rule_id: str) -> None:
    parse = HARNESSES[target].parse
    assert parse is not None
    errors = parse(_query(target, rule_id))
    assert not errors, errors


@pytest.mark.parametrize(("target", "rule_id"), pairs("splunk"))
def test_spl_chain_matches_its_golden_search(target: str, rule_id: str) -> None:
    """SPL has no engine here: the searches are pinned whole, so any change is reviewed by a person."""
    query = _query(target, rule_id)
    assert_golden_spl(NAMES[rule_id], query)
    problems = check_spl_chain(query, chain_rule(rule_id))
    assert not problems, problems


def test_bucketed_windows_would_miss_what_sliding_windows_catch() -> None:
    """The reason for sliding windows, shown on the fixtures: at least one firing case per
    ordered chain family straddles a 5- or 10-minute bucket edge."""
    straddling = 0
    for rule_id in CHAIN_IDS:
        if _is_burst(rule_id):
            continue
        for case in chain_cases_for(rule_id):
            times = {r["eventID"]: datetime.fromisoformat(r["eventTime"]) for r in case.records}
            for alert in case.expect:
                first, last = times[alert[0]], times[alert[-1]]
                for minutes in (5, 10):
                    bucket = minutes * 60
                    if int(first.timestamp()) // bucket != int(last.timestamp()) // bucket:
                        straddling += 1
    assert straddling >= 3, "the fixtures should include chains across bucket edges"


def test_scan_reports_chains_with_their_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snaptrail.cli import main

    rule_id, case = next(
        (rule_id, case) for rule_id in CHAIN_IDS for case in chain_cases_for(rule_id)
        if case.expect and not _is_burst(rule_id)
    )  # fmt: skip
    (tmp_path / "trail.json").write_text(json.dumps({"Records": case.records}), encoding="utf-8")
    assert main(["scan", str(tmp_path), "--rules", str(RULES), "--filters", "--format", "jsonl"]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    chain_alerts = [a["event_ids"] for a in alerts if a["rule_id"] == rule_id]
    assert chain_alerts == [list(alert) for alert in case.expect]
