"""Loading the declared fixture cases: `tests/fixtures/**/cases.yml` links records to a rule id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
RULES = REPO / "sigma" / "rules"


@dataclass(frozen=True)
class Case:
    rule_id: str
    record_path: Path
    expect_match: bool
    note: str
    shape: str
    cases_file: Path

    @property
    def record(self) -> dict[str, Any]:
        return load_record(self.record_path)

    @property
    def event_id(self) -> str:
        return str(self.record["eventID"])

    @property
    def label(self) -> str:
        return f"{self.record_path.relative_to(FIXTURES)} ({'match' if self.expect_match else 'no_match'})"


@cache
def load_record(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def all_cases() -> tuple[Case, ...]:
    cases = []
    for cases_file in sorted((FIXTURES / "rules").rglob("cases.yml")):  # chains: tests/test_chains.py
        data = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
        for entry in data["cases"]:
            expect = entry["expect"]
            if expect not in ("match", "no_match"):
                raise ValueError(f"{cases_file}: expect must be match or no_match, not {expect!r}")
            cases.append(
                Case(
                    rule_id=str(data["rule_id"]),
                    record_path=(cases_file.parent / entry["record"]).resolve(),
                    expect_match=expect == "match",
                    note=str(entry.get("note", "")),
                    shape=str(entry.get("shape", "")),
                    cases_file=cases_file,
                )
            )
    return tuple(cases)


@cache
def rule_files_by_id() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(RULES.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "id" in document:
            found[str(document["id"])] = path
    return found


@cache
def single_event_rule_ids() -> list[str]:
    """Rules other than chains (correlation rules), which tests/test_chains.py proves."""
    return sorted(
        rule_id
        for rule_id, path in rule_files_by_id().items()
        if "correlation" not in yaml.safe_load(path.read_text(encoding="utf-8"))
    )


def cases_for(rule_id: str) -> list[Case]:
    return [case for case in all_cases() if case.rule_id == rule_id]
