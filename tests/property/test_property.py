"""Property-based tests of the six compilers (issue #12).

Generated Sigma values (quotes, backslashes, escaped and unescaped wildcards, pipes, brackets, words
and characters reserved in Lucene/KQL/SPL/EQL/ES|QL/SQL, Unicode with combining marks and astral
characters, empty and very long strings) x modifiers (none, contains, startswith, endswith, re with
its flags, cased, all, lists, exists, `not`) x field kinds (scalar, nested, array step) x every
target. Each rule goes through `Corpus` like the shipped ones; each query must pass its target's real
parser (Splunk: the structural checker only, no SPL parser exists here) and, where an engine runs
here, match exactly the records `sigma_reference` says it must. A TargetLimitation is an allowed
outcome. The regression cases in regressions.yml run on every target the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

from property.profiles import PROFILE, SETTINGS
from property.runner import evaluate, report
from property.sigma_reference import BASE_EVENT, Case, Selection
from property.strategies import FIELDS, batches, build_record
from snaptrail.backends import TARGETS

REGRESSIONS = Path(__file__).with_name("regressions.yml")
REPORT_FILE = os.environ.get("SNAPTRAIL_PROPERTY_REPORT", "")
_ENTRY_KEYS = {"id", "found_on", "note", "selections", "negate", "records"}
_SELECTION_KEYS = {"field", "modifiers", "values", "exists"}


def _selection(entry_id: str, data: dict[str, Any]) -> Selection:
    unknown = set(data) - _SELECTION_KEYS
    if unknown or data.get("field") not in FIELDS:
        raise ValueError(f"{REGRESSIONS.name}: {entry_id}: bad selection {data!r}")
    return Selection(data["field"], tuple(data.get("modifiers", ())), tuple(data.get("values", ())),
                     data.get("exists"))  # fmt: skip


def _record(entry_id: str, index: int, data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    event_name = data.pop("eventName", BASE_EVENT)
    if set(data) - set(FIELDS):
        raise ValueError(f"{REGRESSIONS.name}: {entry_id}: record {index} names unknown fields {data!r}")
    values = {f: tuple(v) if isinstance(v, list) else v for f, v in data.items()}
    return build_record(f"{entry_id}-r{index}", values, event_name=event_name)


def regressions() -> list[tuple[str, Case]]:
    entries = yaml.safe_load(REGRESSIONS.read_text(encoding="utf-8"))
    out = []
    for entry in entries:
        if set(entry) - _ENTRY_KEYS or not entry.get("records"):
            where = f"{REGRESSIONS.name}: entry {entry.get('id')!r}"
            raise ValueError(f"{where}: keys {sorted(entry)}, needs records")
        selections = tuple(_selection(entry["id"], s) for s in entry["selections"])
        records = tuple(_record(entry["id"], i, r) for i, r in enumerate(entry["records"]))
        out.append((entry["id"], Case(selections, bool(entry.get("negate", False)), records)))
    return out


def test_regressions_are_well_formed() -> None:
    ids = [entry_id for entry_id, _ in regressions()]
    assert len(ids) == len(set(ids)), "regression ids must be unique"
    raw = yaml.safe_load(REGRESSIONS.read_text(encoding="utf-8"))
    for entry in raw:
        assert set(entry["found_on"]) <= set(TARGETS), entry["id"]
        assert entry["note"].strip(), entry["id"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_regressions(target: str) -> None:
    named = regressions()
    cases = [case for _, case in named]
    verdicts = evaluate(target, cases)
    failed = [
        f"[{entry_id}] " + report(target, [case], [verdict])
        for (entry_id, case), verdict in zip(named, verdicts, strict=True)
        if verdict.failed
    ]
    assert not failed, "\n" + "\n".join(failed)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_generated_rules(target: str) -> None:
    collected: list[str] = []

    @SETTINGS
    @given(batch=batches(PROFILE.batch_min, PROFILE.batch_max))
    def check(batch: list[Case]) -> None:
        failures = report(target, batch, evaluate(target, batch))
        if failures and PROFILE.survey:
            collected.append(failures)
            if REPORT_FILE:  # every failure of a long run, for triage (the assertion shows 20)
                with open(REPORT_FILE, "a", encoding="utf-8") as out:
                    out.write(failures + "\n")
        else:
            assert not failures, "\n" + failures

    check()
    shown = "\n".join(collected[:20])
    assert not collected, f"{len(collected)} failing batches on {target}; the first 20:\n{shown}"
