"""`snaptrail check`: pySigma validation (core, SigmaHQ, snaptrail) over the one loaded corpus, plus
the fixture declarations, offline, one issue per defect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from snaptrail.checks.loading import load_rules
from snaptrail.checks.pysigma import validate
from snaptrail.checks.report import Issue
from snaptrail.corpus import rule_files
from snaptrail.fixtures import Fixtures, load_fixtures

FIXTURES_CHECK = "snaptrail_fixtures"  # the validator that checks each rule's declarations


@dataclass(frozen=True)
class CheckResult:
    issues: list[Issue]
    rule_files: list[Path]


def _fixture_issues(
    fixtures: Fixtures, validated: set[str], known: set[str], whole_corpus: bool
) -> list[Issue]:
    """What no rule's validation sees: problems of cases.yml files for rules that were not validated,
    fixture records that are no CloudTrail record or share an eventID, and (for the whole corpus)
    cases.yml naming no rule."""
    issues = [
        Issue(str(problem.file), problem.line, problem.rule_id, "?", FIXTURES_CHECK, problem.message)
        for problem in fixtures.problems
        if problem.rule_id not in validated  # a validated rule's problems are snaptrail_fixtures' issues
    ]
    event_ids: dict[str, Path] = {}
    for case in sorted(
        {case.record_path: case for case in fixtures.records}.values(), key=lambda c: c.record_path
    ):
        try:
            event_id = case.event_id
        except (OSError, ValueError, KeyError) as error:
            message = f"not a CloudTrail record ({type(error).__name__}: {error})"
            issues.append(Issue(str(case.record_path), 1, case.rule_id, "?", FIXTURES_CHECK, message))
            continue
        first = event_ids.setdefault(event_id, case.record_path)
        if first != case.record_path:
            message = f"eventID {event_id} is also used by {first}"
            issues.append(Issue(str(case.record_path), 1, case.rule_id, "?", FIXTURES_CHECK, message))
    if whole_corpus:  # checking a subset, fixtures of the other rules are not dangling
        declared = {case.rule_id: case.cases_file for case in [*fixtures.records, *fixtures.chains]}
        for rule_id in sorted(set(declared) - known):
            message = f"cases.yml declares rule_id {rule_id}, which is no rule"
            issues.append(Issue(str(declared[rule_id]), 1, rule_id, "?", FIXTURES_CHECK, message))
    return issues


def run_checks(
    rule_paths: Sequence[Path], fixture_roots: Path | Sequence[Path] | None, whole_corpus: bool = True
) -> CheckResult:
    files = rule_files(rule_paths)
    loaded = load_rules(rule_paths)
    roots = [fixture_roots] if isinstance(fixture_roots, Path) else list(fixture_roots or [])
    fixtures = load_fixtures(roots) if roots else None
    issues = loaded.issues + validate(loaded.rules, fixtures)
    if fixtures is not None:
        validated = {str(rule.id) for rule in loaded.rules}
        issues += _fixture_issues(fixtures, validated, validated | loaded.unloaded_ids, whole_corpus)
    return CheckResult(sorted(set(issues), key=lambda i: (i.file, i.line, i.check, i.message)), files)
