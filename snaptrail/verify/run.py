"""Every declared fixture outcome on every target that can check it here: what `snaptrail test` reports.

For each target (`snaptrail.verify.harness.HARNESSES`), each rule's compiled query is first given to
the target's real parser, then executed over the rule's fixture records as that SIEM stores them,
and each case is judged:

- passed: the engine reproduced the declared outcome (match / no match; a chain's alerts);
- failed: it did not, or the parser rejected the query, or the rule does not compile, or the
  fixture itself is unusable; every failure names target, rule, cases.yml (line) and record;
- not executed: nothing here runs that query (no engine for the language, a runtime that is not
  installed, or an engine limit such as duckdb-kql without mv-apply); counted, never a pass;
- cannot express: the target cannot express the rule exactly (a TargetLimitation, by design).

Chains: DuckDB and duckdb-kql must raise exactly the declared alerts (a burst's events in any order);
Elastic's eql engine reports every matching sequence where snaptrail raises one alert per crossing,
so on EQL a chain case is judged on whether it fires at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from snaptrail.backends import TARGETS
from snaptrail.corpus import Conversion, Corpus
from snaptrail.fixtures import ChainCase, Fixtures, RecordCase
from snaptrail.verify import harness as harness_module
from snaptrail.verify import runtimes
from snaptrail.verify.harness import HARNESSES, ExecutorLimit
from snaptrail.verify.lucene_checker import run_lucene
from snaptrail.verify.storage import to_ecs_document

PASSED, FAILED, NOT_EXECUTED, CANNOT_EXPRESS = "passed", "failed", "not executed", "cannot express"
STATUSES = (PASSED, FAILED, NOT_EXECUTED, CANNOT_EXPRESS)
# Engines whose chain results are snaptrail's alerts; the others are judged on firing or not.
EXACT_ALERTS = frozenset({"duckdb", "sentinel"})
BURSTS = frozenset({"event_count", "value_count"})

Case = RecordCase | ChainCase


@dataclass(frozen=True)
class Outcome:
    """One fixture case on one target."""

    target: str
    rule_id: str
    rule: str  # the rule file's stem
    cases_file: str
    line: int
    record: str  # the record (or trail) file as cases.yml names it
    expect: str  # "match", "no_match", or a chain's alerts
    status: str
    detail: str  # what the engine said, or why it did not run

    def text(self) -> str:
        return (
            f"{self.target}: rule {self.rule} ({self.rule_id}): {self.cases_file}:{self.line}: "
            f"{self.record} (expect {self.expect}): {self.detail}"
        )


@dataclass
class TargetReport:
    target: str
    parser: str  # what checks the syntax here, in words ("" when nothing can)
    engine: str  # what executes here, in words ("" when nothing can)
    counts: Counter[str] = field(default_factory=Counter)
    not_executed: Counter[str] = field(default_factory=Counter)  # reason -> cases
    queries_parsed: int = 0
    queries_rejected: int = 0
    unparsed: str = ""  # why the target's parser did not run here ("" when it did, or none exists)

    def summary(self) -> str:
        parts = [f"{self.counts[status]} {status}" for status in STATUSES]
        line = f"{self.target + ':':<16}" + ", ".join(parts)  # aligned: one line per target
        if self.not_executed:
            line += " (not executed: " + "; ".join(f"{n} {why}" for why, n in self.not_executed.items()) + ")"
        if self.queries_parsed or self.queries_rejected:
            line += f"; queries: {self.queries_parsed} accepted, {self.queries_rejected} rejected"
            line += f" by {self.parser}" if self.parser else ""
        if self.unparsed:
            line += f"; queries not parsed ({self.unparsed})"
        return line


@dataclass(frozen=True)
class MissingRuntime:
    key: str
    name: str
    targets: tuple[str, ...]
    why: str
    install: str

    def text(self) -> str:
        return (
            f"{self.name} cannot run here ({', '.join(self.targets)}): {self.why}\n  install: {self.install}"
        )


@dataclass
class Report:
    targets: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    by_target: dict[str, TargetReport] = field(default_factory=dict)
    missing: list[MissingRuntime] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unusable fixture declarations
    ignored_cases: int = 0  # cases naming a rule that is not loaded
    rules: int = 0

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _alerts(alerts: Iterable[Sequence[str]]) -> str:
    """Alerts as cases.yml lists them: each alert its eventIDs, comma-separated; alerts by `; `."""
    listed = [",".join(str(event_id) for event_id in alert) for alert in alerts]
    return "alerts " + "; ".join(listed) if listed else "no alert"


def _expect(case: Case) -> str:
    return case.expect if isinstance(case, RecordCase) else _alerts(case.expect)


def _record(case: Case) -> str:
    return case.declared


def _unreadable(case: Case) -> str | None:
    """Why the case's record (or trail) cannot be read; None if it can."""
    try:
        if isinstance(case, RecordCase):
            case.record  # noqa: B018  (reads and caches the record)
            case.event_id  # noqa: B018
        else:
            case.records  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"the fixture cannot be read: {error}"
    return None


class _Judge:
    """Collects outcomes for one target."""

    def __init__(self, report: Report, target: str, names: dict[str, str]) -> None:
        self.report = report
        self.target = target
        self.names = names
        self.summary = report.by_target[target]

    def add(self, rule_id: str, case: Case, status: str, detail: str, reason: str = "") -> None:
        self.summary.counts[status] += 1
        if status == NOT_EXECUTED:
            self.summary.not_executed[reason or detail] += 1
        self.report.outcomes.append(
            Outcome(self.target, rule_id, self.names.get(rule_id, rule_id), _relative(case.cases_file),
                    case.line, _record(case), _expect(case), status, detail)
        )  # fmt: skip

    def all(self, rule_id: str, cases: Iterable[Case], status: str, detail: str, reason: str = "") -> None:
        for case in cases:
            self.add(rule_id, case, status, detail, reason)


def _normalise(alerts: Iterable[Sequence[str]], burst: bool) -> list[list[str]]:
    if burst:
        return sorted(sorted(str(i) for i in alert) for alert in alerts)
    return sorted([str(i) for i in alert] for alert in alerts)


def _said(matched: bool) -> str:
    return "match" if matched else "no match"


def verify(
    corpus: Corpus,
    fixtures: Fixtures,
    targets: Sequence[str] | None = None,
    kusto_dir: Path | None = None,
) -> Report:
    """Judge every fixture case of every rule in `corpus` on each of `targets` (default: all)."""
    targets = list(targets) if targets else list(TARGETS)
    report = Report(targets, problems=[problem.text() for problem in fixtures.problems])
    names = {info.id: info.name for info in corpus.rules}
    report.rules = len(names)
    cases_by_rule: dict[str, list[Case]] = {}
    for case in [*fixtures.records, *fixtures.chains]:
        if case.rule_id in corpus.by_id:
            cases_by_rule.setdefault(case.rule_id, []).append(case)
        else:
            report.ignored_cases += 1

    needed = {key for target in targets for key in _needs(target) if key}
    absent = runtimes.missing(needed, kusto_dir)
    for key, why in absent.items():
        served = tuple(target for target in targets if key in _needs(target))
        runtime = runtimes.RUNTIMES[key]
        report.missing.append(MissingRuntime(key, runtime.name, served, why, runtime.install))
    for target in targets:
        _TargetRun(report, target, names, corpus, cases_by_rule, absent, kusto_dir).run()
    return report


def _needs(target: str) -> tuple[str | None, str | None]:
    """The runtimes (parse, execute) the target's checkers need; None where no such checker exists."""
    needs = runtimes.TARGET_NEEDS.get(target, runtimes.Needs(None, None))
    return needs.parse, needs.execute


class _TargetRun:
    """One target over every rule that has fixtures."""

    def __init__(
        self,
        report: Report,
        target: str,
        names: dict[str, str],
        corpus: Corpus,
        cases_by_rule: dict[str, list[Case]],
        absent: dict[str, str],
        kusto_dir: Path | None,
    ) -> None:
        self.target = target
        self.harness = HARNESSES[target]
        self.corpus = corpus
        self.cases_by_rule = cases_by_rule
        parse_needs, self.execute_needs = _needs(target)
        self.can_parse = (
            self.harness.parse is not None and parse_needs is not None and parse_needs not in absent
        )
        self.can_run = self.execute_needs is not None and self.execute_needs not in absent
        report.by_target[target] = TargetReport(
            target, self.harness.parser if self.can_parse else "", self.harness.engine if self.can_run else ""
        )
        if parse_needs is not None and parse_needs in absent and parse_needs != self.execute_needs:
            # (one runtime for both, as Lucene: its not-executed reason says it already)
            report.by_target[target].unparsed = f"{runtimes.RUNTIMES[parse_needs].short} not installed"
        self.judge = _Judge(report, target, names)
        self.parse = self._parser(kusto_dir)

    def _parser(self, kusto_dir: Path | None) -> Callable[[str], list[str]] | None:
        if not self.can_parse:
            return None
        if self.target == "sentinel" and kusto_dir is not None:
            return lambda query: harness_module.kql_errors(query, kusto_dir)
        return self.harness.parse

    def _why_not_run(self, chain: bool) -> tuple[str, str]:
        """(detail, reason) for cases no engine here executes."""
        if (
            self.execute_needs is None
            or (chain and self.harness.execute_chain is None)
            or (not chain and self.harness.execute is None)
        ):
            kind = "chain " if chain else ""
            what = {"splunk": "no SPL parser or engine exists outside Splunk",
                    "elastic-esql": "no ES|QL engine exists outside Elasticsearch"}.get(
                self.target, f"no {kind}engine for {self.target} here")  # fmt: skip
            return what, what
        runtime = runtimes.RUNTIMES[self.execute_needs]
        return f"{runtime.name} is not installed here", f"{runtime.short} not installed"

    def run(self) -> None:
        conversions = self.corpus.compiled(self.target)
        lucene: dict[str, tuple[str, list[RecordCase]]] = {}
        for rule_id, cases in sorted(self.cases_by_rule.items()):
            rule = self.corpus.by_id[rule_id]
            is_chain = isinstance(rule, SigmaCorrelationRule)
            usable = self._usable(rule_id, cases, is_chain)
            if not usable:
                continue
            conversion = conversions.get(rule_id)
            query = self._query(rule_id, usable, conversion)
            if query is None:
                continue
            if self.target == "elastic-lucene" and self.can_run and not is_chain:
                # Lucene parses while it executes, in one JVM for every rule (starting Java is the cost).
                lucene[rule_id] = (query, [case for case in usable if isinstance(case, RecordCase)])
                continue
            if not self._parsed(rule_id, usable, query):
                continue
            if is_chain:
                self._chains(rule_id, [c for c in usable if isinstance(c, ChainCase)], query, rule)
            else:
                self._records(rule_id, [c for c in usable if isinstance(c, RecordCase)], query)
        if lucene:
            self._lucene(lucene)

    def _usable(self, rule_id: str, cases: list[Case], is_chain: bool) -> list[Case]:
        """The cases that can be judged at all; the others fail with the reason."""
        usable: list[Case] = []
        for case in cases:
            unreadable = _unreadable(case)
            if unreadable:
                self.judge.add(rule_id, case, FAILED, unreadable)
            elif is_chain and isinstance(case, RecordCase):
                self.judge.add(rule_id, case, FAILED, "the rule is a chain: its cases name trails "
                               "(`records: FILE`, `expect: [[eventID, ...]]`), not one record")  # fmt: skip
            elif not is_chain and isinstance(case, ChainCase):
                self.judge.add(rule_id, case, FAILED, "the rule is a single-event rule: its cases name "
                               "one record (`record: FILE`, `expect: match|no_match`)")  # fmt: skip
            else:
                usable.append(case)
        records = [case for case in usable if isinstance(case, RecordCase)]
        shared = {eid for eid, n in Counter(case.event_id for case in records).items() if n > 1}
        if shared:
            # Engines answer with eventIDs: records sharing one cannot be judged apart.
            for case in [c for c in records if c.event_id in shared]:
                self.judge.add(rule_id, case, FAILED, f"eventID {case.event_id} is used by another record "
                               "of this rule; give each record its own eventID")  # fmt: skip
            usable = [c for c in usable if not (isinstance(c, RecordCase) and c.event_id in shared)]
        return usable

    def _query(self, rule_id: str, cases: list[Case], conversion: Conversion | None) -> str | None:
        if conversion is None:  # a chain step with `generate: false`: no query of its own
            self.judge.all(rule_id, cases, NOT_EXECUTED, "the rule is not a detection on its own "
                           "(a chain step with generate: false)", "no query of its own")  # fmt: skip
            return None
        if conversion.limitation:
            self.judge.all(rule_id, cases, CANNOT_EXPRESS, str(conversion.error))
            return None
        if not conversion.ok:
            self.judge.all(rule_id, cases, FAILED, f"does not compile: {conversion.error}")
            return None
        return str(conversion.query)

    def _parsed(self, rule_id: str, cases: list[Case], query: str) -> bool:
        if self.parse is None:
            return True
        try:
            errors = self.parse(query)
        except Exception as error:  # the parser's own crash is a failure to report, never a pass
            errors = [f"{type(error).__name__}: {error}"]
        if errors:
            self.judge.summary.queries_rejected += 1
            self.judge.all(
                rule_id, cases, FAILED, f"{self.harness.parser} rejected the query: " + "; ".join(errors)
            )
            return False
        self.judge.summary.queries_parsed += 1
        return True

    def _records(self, rule_id: str, cases: list[RecordCase], query: str) -> None:
        execute = self.harness.execute
        if not self.can_run or execute is None:
            detail, reason = self._why_not_run(chain=False)
            self.judge.all(rule_id, cases, NOT_EXECUTED, detail, reason)
            return
        matched, refusal = self._run(execute, query, [case.record for case in cases])
        if refusal is not None:
            self.judge.all(rule_id, cases, *refusal)
            return
        for case in cases:
            self._judge_record(rule_id, case, case.event_id in matched)

    def _run(
        self, execute: Any, query: str, records: list[dict[str, Any]]
    ) -> tuple[Any, tuple[str, ...] | None]:
        """(the engine's answer, None), or (None, (status, detail[, reason])) when it gave none: a
        query beyond the engine here is not executed; an engine error is a failure, never a pass."""
        try:
            return execute(query, records), None
        except ExecutorLimit as limit:
            return None, (NOT_EXECUTED, str(limit), f"beyond {self.harness.engine}")
        except Exception as error:
            return None, (FAILED, f"{self.harness.engine} failed: {type(error).__name__}: {error}")

    def _judge_record(self, rule_id: str, case: RecordCase, matched: bool) -> None:
        said = f"{self.harness.engine}: {_said(matched)}"
        if matched == case.expect_match:
            self.judge.add(rule_id, case, PASSED, said)
        else:
            self.judge.add(rule_id, case, FAILED, f"expected {_said(case.expect_match)}, {said}")

    def _lucene(self, rules: dict[str, tuple[str, list[RecordCase]]]) -> None:
        # Documents keyed per case, not per eventID: fixtures of different rules may share eventIDs.
        keys: dict[tuple[str, int], str] = {}
        documents: dict[str, dict[str, Any]] = {}
        for rule_id, (_, cases) in rules.items():
            for index, case in enumerate(cases):
                key = f"{len(documents)}"
                keys[(rule_id, index)] = key
                documents[key] = to_ecs_document(case.record)
        try:
            results = run_lucene({rule_id: query for rule_id, (query, _) in rules.items()}, documents)
        except (RuntimeError, ValueError, TypeError) as error:
            for rule_id, (_, cases) in rules.items():
                self.judge.all(rule_id, cases, FAILED, f"{self.harness.engine} failed: {error}")
            return
        for rule_id, (_, cases) in rules.items():
            result = results[rule_id]
            if result.error is not None:
                self.judge.summary.queries_rejected += 1
                self.judge.all(
                    rule_id, cases, FAILED, f"{self.harness.parser} rejected the query: {result.error}"
                )
                continue
            self.judge.summary.queries_parsed += 1
            for index, case in enumerate(cases):
                self._judge_record(rule_id, case, keys[(rule_id, index)] in result.matches)

    def _chains(self, rule_id: str, cases: list[ChainCase], query: str, rule: SigmaCorrelationRule) -> None:
        execute = self.harness.execute_chain
        if not self.can_run or execute is None:
            detail, reason = self._why_not_run(chain=True)
            self.judge.all(rule_id, cases, NOT_EXECUTED, detail, reason)
            return
        burst = str(rule.type) in BURSTS  # its value is a number; str() is the Sigma name
        for case in cases:
            found, refusal = self._run(execute, query, case.records)
            if refusal is not None:
                self.judge.add(rule_id, case, *refusal)
                continue
            if self.target in EXACT_ALERTS:
                agrees = _normalise(found, burst) == _normalise(case.expect, burst)
                said = f"{self.harness.engine} raised {_alerts(_normalise(found, burst))}"
            else:
                agrees = bool(found) == bool(case.expect)
                said = f"{self.harness.engine} {'fired' if found else 'did not fire'} (judged on firing only)"
            self.judge.add(
                rule_id, case, PASSED if agrees else FAILED, said if agrees else f"disagrees: {said}"
            )
