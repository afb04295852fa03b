"""One batch of generated rules on one target, through the project's own path: the rules are written
as files, loaded by `Corpus.load` and compiled by `Corpus.compiled(target)`; each query goes to that
target's real parser and engine (`snaptrail.verify.harness.HARNESSES`) and its matches are compared
with `sigma_reference`.

Every case gets one verdict. Allowed: `ok` (executed, same matches as the reference), `refused` (a
TargetLimitation naming rule, field and target), `parsed-only` (the parser accepted it and no engine
here can judge it, see `judged_by_engine`), `not-executed` (the engine raised ExecutorLimit for a
construct it is documented not to run). Everything else is a failure.
"""

from __future__ import annotations

import copy
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from property.sigma_reference import QMARK, Case, expected_ids, field_values, parse_sigma_string
from property.strategies import FIELDS
from snaptrail.corpus import Conversion, Corpus
from snaptrail.verify.harness import HARNESSES, ExecutorLimit
from snaptrail.verify.lucene_checker import run_lucene
from snaptrail.verify.storage import to_ecs_document

from checkers.spl_structure import check_spl

ALLOWED = ("ok", "refused", "parsed-only", "not-executed")
FAILURES = ("conversion-error", "unclear-limitation", "parser-rejected", "execution-failure", "wrong-matches")

# Per target: verdict -> number of cases, over the whole test session (printed by the conftest).
TALLY: dict[str, Counter[str]] = {}
BATCHES: Counter[str] = Counter()


@dataclass(frozen=True)
class Verdict:
    kind: str
    detail: str = ""
    query: str | None = None

    @property
    def failed(self) -> bool:
        return self.kind in FAILURES


def rule_id(index: int) -> str:
    return f"00000000-0000-4000-9000-{index:012d}"


def rule_text(case: Case, index: int) -> str:
    document = {
        "title": f"property {index}",
        "id": rule_id(index),
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": case.detection(),
        "level": "low",
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=10_000)


def compile_batch(cases: list[Case], target: str) -> tuple[list[Conversion], Corpus]:
    with tempfile.TemporaryDirectory(prefix="snaptrail-property-") as folder:
        for index, case in enumerate(cases):
            Path(folder, f"property_{index}.yml").write_text(rule_text(case, index), encoding="utf-8")
        corpus = Corpus.load([Path(folder)])
        compiled = corpus.compiled(target)
    return [compiled[rule_id(index)] for index in range(len(cases))], corpus


def judged_by_engine(target: str, case: Case) -> bool:
    """False where the engine here is known to differ from the SIEM for a construct, so only the
    parser's acceptance is proven (the same constructs tests/test_semantics.py leaves unexecuted)."""
    if target != "elastic-eql":
        return True
    # The eql Python engine folds case and runs regexes unlike Elasticsearch, and reads `?` literally.
    for selection in case.selections:
        if {"cased", "re"} & set(selection.modifiers):
            return False
        if any(QMARK in parse_sigma_string(value) for value in selection.values):
            return False
    return True


def executor_limit_expected(target: str, case: Case) -> bool:
    # duckdb-kql has no mv-apply, which Sentinel needs for array steps (tests/expected_limits.yml).
    return target == "sentinel" and any(FIELDS[s.field] == "array" for s in case.selections)


def _refusal(conversion: Conversion, case: Case, index: int, target: str) -> Verdict:
    message = str(conversion.error)
    names_field = any(f"'{s.field}'" in message for s in case.selections) or "field '" in message
    clear = rule_id(index) in message and f"target {target}" in message and names_field
    return Verdict("refused" if clear else "unclear-limitation", message)


def _compare(case: Case, matched: set[str], query: str) -> Verdict:
    expected = expected_ids(case)
    own = {str(r["eventID"]) for r in case.records}
    matched = matched & own
    if matched == expected:
        return Verdict("ok", query=query)
    lines = []
    for record in case.records:
        event_id = str(record["eventID"])
        if (event_id in matched) != (event_id in expected):
            stored = {s.field: field_values(record, s.field) for s in case.selections}
            stored["eventName"] = field_values(record, "eventName")
            want = "match" if event_id in expected else "no match"
            lines.append(f"    {event_id}: reference says {want}, engine not; record holds {stored!r}")
    return Verdict("wrong-matches", "\n".join(lines), query)


def evaluate(target: str, cases: list[Case]) -> list[Verdict]:
    """One verdict per case, in order; the tally is updated."""
    harness = HARNESSES[target]
    conversions, corpus = compile_batch(cases, target)
    verdicts: dict[int, Verdict] = {}
    pending: list[int] = []
    for index, conversion in enumerate(conversions):
        if conversion.limitation:
            verdicts[index] = _refusal(conversion, cases[index], index, target)
        elif not conversion.ok:
            verdicts[index] = Verdict("conversion-error", str(conversion.error))
        else:
            pending.append(index)
    if target == "elastic-lucene":
        verdicts.update(_lucene(cases, conversions, pending))
    for index in pending:
        if index in verdicts:
            continue
        case, query = cases[index], str(conversions[index].query)
        executes = harness.execute is not None and judged_by_engine(target, case)
        # DuckDB's EXPLAIN and its execution are the same parser and binder: running the query
        # proves both, and each store costs ~0.1 s to open.
        if harness.parse is not None and not (target == "duckdb" and executes):
            errors = harness.parse(query)
            if errors:
                verdicts[index] = Verdict("parser-rejected", "; ".join(errors), query)
                continue
        elif target == "splunk":
            # No SPL parser exists outside Splunk: the structural checker is all that runs here.
            problems = check_spl(query, corpus.by_id[rule_id(index)])  # type: ignore[arg-type]
            verdicts[index] = Verdict("parser-rejected" if problems else "parsed-only", "; ".join(problems),
                                      query)  # fmt: skip
            continue
        if not executes:
            verdicts[index] = Verdict("parsed-only", query=query)
            continue
        try:
            matched = harness.execute(query, [copy.deepcopy(r) for r in case.records])  # type: ignore[misc]
        except ExecutorLimit as error:
            kind = "not-executed" if executor_limit_expected(target, case) else "execution-failure"
            verdicts[index] = Verdict(kind, str(error), query)
            continue
        except Exception as error:  # any engine error is a defect of the query: report it, not crash
            rejected = isinstance(error, duckdb.ParserException | duckdb.BinderException)
            kind = "parser-rejected" if rejected else "execution-failure"
            verdicts[index] = Verdict(kind, f"{type(error).__name__}: {error}", query)
            continue
        verdicts[index] = _compare(case, matched, query)
    tally = TALLY.setdefault(target, Counter())
    BATCHES[target] += 1
    for verdict in verdicts.values():
        tally[verdict.kind] += 1
    return [verdicts[index] for index in range(len(cases))]


def _lucene(cases: list[Case], conversions: list[Conversion], pending: list[int]) -> dict[int, Verdict]:
    """All of a batch's queries over all of its documents in one JVM (starting Java dominates)."""
    if not pending:
        return {}
    documents: dict[str, Any] = {}
    for index in pending:
        for record in cases[index].records:
            documents[str(record["eventID"])] = to_ecs_document(copy.deepcopy(record))
    results = run_lucene({str(i): str(conversions[i].query) for i in pending}, documents)
    verdicts = {}
    for index in pending:
        result, query = results[str(index)], str(conversions[index].query)
        if result.error is None:
            verdicts[index] = _compare(cases[index], set(result.matches), query)
        elif "TooComplex" in result.error:  # parsed, but Elasticsearch fails the search at run time
            verdicts[index] = Verdict("execution-failure", result.error, query)
        else:
            verdicts[index] = Verdict("parser-rejected", result.error, query)
    return verdicts


def report(target: str, cases: list[Case], verdicts: list[Verdict]) -> str:
    """The failing cases, one paragraph each: what the backend engineers need to reproduce them."""
    out = []
    for case, verdict in zip(cases, verdicts, strict=True):
        if not verdict.failed:
            continue
        kinds = ", ".join(sorted({FIELDS[s.field] for s in case.selections}))
        out.append(
            f"{target}: {verdict.kind}: {case.describe()} (field kind {kinds})\n"
            f"  query: {verdict.query!r}\n  {verdict.detail}"
        )
    return "\n".join(out)
