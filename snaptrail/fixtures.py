"""The one reader of fixture declarations: `<fixtures>/**/cases.yml`.

A `cases.yml` names the rule it proves (`rule_id`) and lists cases. A single-event case names one
CloudTrail record file and whether the rule must match it:

    - record: share_cli.json
      expect: match          # or no_match
      note: ...
      shape: recorded        # recorded | doc | api: how the record's shape is known

A chain case names a trail (`{"Records": [...]}`) and the alerts the chain must raise on it, each
alert the list of its events' eventIDs in chain order:

    - records: straddles_bucket_edges.json
      expect: [[id1, id2]]   # [] for "no alert"

`snaptrail check`, the docs and the tests all read cases through `load_fixtures`; a malformed
declaration is a `FixtureProblem` naming file and line, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from snaptrail import yaml_text

CASES_FILE = "cases.yml"
EXPECTATIONS = ("match", "no_match")
SHAPES = ("recorded", "doc", "api")


@dataclass(frozen=True)
class FixtureProblem:
    file: Path
    line: int
    rule_id: str
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class _Case:
    """Where a case is declared: the rule, the cases.yml and its line, the file as written there."""

    rule_id: str
    cases_file: Path
    declared: str  # the path as written in cases.yml
    note: str
    line: int


@dataclass(frozen=True)
class RecordCase(_Case):
    """One CloudTrail record and whether the rule must match it."""

    record_path: Path  # resolved
    expect_match: bool
    shape: str

    @cached_property
    def record(self) -> dict[str, Any]:
        data = json.loads(self.record_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{self.record_path}: a fixture record must be one JSON object")
        return data

    @property
    def event_id(self) -> str:
        return str(self.record["eventID"])

    @property
    def expect(self) -> str:
        return "match" if self.expect_match else "no_match"

    @property
    def label(self) -> str:
        """How a test failure names the case: the cases.yml folder, the record, the expectation."""
        return f"{self.cases_file.parent.name}/{self.declared} ({self.expect})"


@dataclass(frozen=True)
class ChainCase(_Case):
    """A trail of records and the alerts a chain must raise on it (each alert its eventIDs in order)."""

    path: Path
    expect: tuple[tuple[str, ...], ...]

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        records = data.get("Records") if isinstance(data, dict) else None
        if not isinstance(records, list):
            raise ValueError(f"{self.path}: a chain trail must be {{'Records': [...]}}")
        return records

    @property
    def name(self) -> str:
        return f"{self.cases_file.parent.name}/{self.declared}"


@dataclass
class Fixtures:
    root: Path | None
    records: list[RecordCase] = field(default_factory=list)
    chains: list[ChainCase] = field(default_factory=list)
    problems: list[FixtureProblem] = field(default_factory=list)

    def for_rule(self, rule_id: str) -> list[RecordCase | ChainCase]:
        return [c for c in [*self.records, *self.chains] if c.rule_id == rule_id]

    @property
    def rule_ids(self) -> set[str]:
        return {c.rule_id for c in [*self.records, *self.chains]}


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle and needle in line:
            return number
    return 1


def _read_cases_file(cases_file: Path, fixtures: Fixtures) -> None:
    try:
        text = cases_file.read_text(encoding="utf-8")
        data = yaml_text.load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        fixtures.problems.append(FixtureProblem(cases_file, 1, "?", f"cannot read ({error})"))
        return
    if not isinstance(data, dict) or "rule_id" not in data or not isinstance(data.get("cases"), list):
        fixtures.problems.append(
            FixtureProblem(cases_file, 1, "?", "must be a mapping with 'rule_id' and a list 'cases'")
        )
        return
    rule_id = str(data["rule_id"])
    for entry in data["cases"]:
        if not isinstance(entry, dict):
            fixtures.problems.append(FixtureProblem(cases_file, 1, rule_id, "a case must be a mapping"))
            continue
        note = " ".join(str(entry.get("note", "")).split())
        if "records" in entry:
            declared = str(entry["records"])
            line = _line_of(text, declared)
            expect = entry.get("expect")
            if not isinstance(expect, list) or not all(isinstance(alert, list) for alert in expect):
                fixtures.problems.append(
                    FixtureProblem(cases_file, line, rule_id, f"{declared}: expect must be a list of alerts")
                )
                continue
            path = (cases_file.parent / declared).resolve()
            if not path.is_file():
                fixtures.problems.append(
                    FixtureProblem(cases_file, line, rule_id, f"records file {declared} does not exist")
                )
                continue
            alerts = tuple(tuple(str(event_id) for event_id in alert) for alert in expect)
            chain = ChainCase(rule_id, cases_file, declared, note, line, path=path, expect=alerts)
            fixtures.chains.append(chain)
            continue
        declared = str(entry.get("record", ""))
        line = _line_of(text, declared)
        expect = entry.get("expect")
        if expect not in EXPECTATIONS:
            fixtures.problems.append(
                FixtureProblem(cases_file, line, rule_id, f"{declared}: expect must be match or no_match")
            )
            continue
        path = (cases_file.parent / declared).resolve()
        if not declared or not path.is_file():
            fixtures.problems.append(
                FixtureProblem(cases_file, line, rule_id, f"record {declared} does not exist")
            )
            continue
        shape = str(entry.get("shape", ""))
        fixtures.records.append(
            RecordCase(
                rule_id,
                cases_file,
                declared,
                note,
                line,
                record_path=path,
                expect_match=expect == "match",
                shape=shape,
            )
        )


def load_fixtures(roots: Iterable[Path]) -> Fixtures:
    """Every case declared under the given fixture folders, in sorted cases.yml order."""
    roots = [Path(root) for root in roots]
    fixtures = Fixtures(roots[0] if roots else None)
    for root in roots:
        for cases_file in sorted(root.rglob(CASES_FILE)):
            _read_cases_file(cases_file, fixtures)
    return fixtures
