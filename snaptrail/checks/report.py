"""What `snaptrail check` reports: one `Issue` per defect, naming file, line, rule and check; as text,
JSON or JUnit XML."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from xml.etree import ElementTree

from sigma.validators.base import SigmaValidationIssue

from snaptrail.checks.validators import AnyRule, SnaptrailFixtureProblemIssue, SnaptrailIssue
from snaptrail.corpus import source_of


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    rule_id: str
    title: str
    check: str  # the validator identifier (what pySigma's validation config names), or a load check
    message: str

    def text(self) -> str:
        """One line per issue (YAML parser messages span several)."""
        message = " ".join(self.message.split())
        return f"{self.file}:{self.line}: rule '{self.title}' ({self.rule_id}): [{self.check}] {message}"


def line_of(path: str, near: Iterable[Sequence[str]]) -> int:
    """The first line holding every string of the first `near` entry that some line holds; 1 if
    none does. pySigma does not keep line numbers, so the rule file's text is searched."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    for needles in near:
        for number, line in enumerate(lines, start=1):
            if needles and all(needle in line for needle in needles):
                return number
    return 1


def rule_issue(rule: AnyRule | None, check: str, message: str, near: Iterable[Sequence[str]] = ()) -> Issue:
    if rule is None:
        return Issue("?", 1, "?", "?", check, message)
    file = source_of(rule)
    return Issue(file, line_of(file, near), str(rule.id), str(rule.title), check, message)


def _details(issue: SigmaValidationIssue) -> dict[str, object]:
    """An issue's own fields: what sigma-cli prints after its description."""
    return {f.name: getattr(issue, f.name) for f in fields(issue) if f.name not in ("rules", "severity")}


def _needles(value: object) -> list[tuple[str, ...]]:
    values = value if isinstance(value, list | tuple | set) else [value]
    # Short values (counts, single letters) would match lines by accident.
    return [(str(v),) for v in values if len(str(v)) >= 3]


def validation_issue(check: str, issue: SigmaValidationIssue) -> Issue:
    """One Issue per validation issue. An issue about several rules (a shared id or title) is one
    defect: it is reported on the first rule's file and names the others."""
    rules = sorted(issue.rules, key=source_of)
    if isinstance(issue, SnaptrailIssue):
        message, near = issue.message, issue.locate()
    else:
        details = _details(issue)
        message = issue.description + "".join(f"; {name}: {value}" for name, value in details.items())
        near = [needle for value in details.values() for needle in _needles(value)]
    if len(rules) > 1:
        message += f" (also in {', '.join(source_of(rule) for rule in rules[1:])})"
    found = rule_issue(rules[0] if rules else None, check, message, near)
    if isinstance(issue, SnaptrailFixtureProblemIssue):  # the defect is in the cases.yml
        return Issue(issue.cases_file, issue.line, found.rule_id, found.title, check, message)
    return found


def as_json(issues: list[Issue]) -> str:
    return json.dumps([asdict(issue) for issue in issues], indent=2)


def as_junit(issues: list[Issue], rule_files: list[Path]) -> str:
    """JUnit XML: one test case per rule file, failing with that file's issues."""
    by_file: dict[str, list[Issue]] = {}
    for issue in issues:
        by_file.setdefault(issue.file, []).append(issue)
    names = sorted({str(path) for path in rule_files} | set(by_file))
    suite = ElementTree.Element(
        "testsuite", name="snaptrail check", tests=str(len(names)), failures=str(len(by_file))
    )
    for name in names:
        case = ElementTree.SubElement(suite, "testcase", classname="snaptrail.check", name=name)
        for issue in by_file.get(name, []):
            failure = ElementTree.SubElement(case, "failure", type=issue.check, message=issue.message)
            failure.text = issue.text()
    return ElementTree.tostring(suite, encoding="unicode")
