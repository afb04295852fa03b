"""`snaptrail test`: every fixture's declared outcome on every target that can check it here.

Rules, fixtures and settings default as for `snaptrail build`. The rules are judged as written (no
filters), as the repository's test suite judges them: a fixture states what the rule itself must
match, and allowlists are each organisation's own. `--filters` (without paths: the filters the build
applies; with paths: those) judges the rules with the filters and the allowlists of `--config` applied
instead, e.g. to see which fixtures an allowlist would silence. `--config` also sets the Elastic
index patterns the ES|QL queries name.

Exit status: 0 when no case failed; 1 when a case failed (or, with --strict, a checker's runtime is
missing); 2 when the rules, fixtures folder or configuration cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from xml.etree import ElementTree

from snaptrail.backends import TARGETS
from snaptrail.config import Config
from snaptrail.content import CHECKOUT_FIXTURES, CHECKOUT_RULES
from snaptrail.corpus import RuleLoadError
from snaptrail.verify.run import CANNOT_EXPRESS, FAILED, NOT_EXECUTED, STATUSES, Outcome, Report

PROG = "snaptrail test"


# The defaults of a snaptrail checkout, used when snaptrail.content (which decides content for every
# command, snaptrail.yml's `content:` section included) is not there to ask.


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `test` subcommand, registered by snaptrail.cli.parser()."""
    p = sub.add_parser(
        "test",
        help="prove every fixture's declared outcome on every target that runs here",
        description=__doc__.split("\n\n")[1],
    )
    # `extend`: both `--rules a b` and `--rules a --rules b`.
    p.add_argument(
        "--rules", action="extend", nargs="+", type=Path, metavar="PATH", help="rule files or folders "
        f"(default: as `snaptrail build`: snaptrail.yml content.rules, else {CHECKOUT_RULES})",
    )  # fmt: skip
    p.add_argument(
        "--filters", nargs="*", type=Path, metavar="PATH", help="judge with filters applied (no paths: "
        "the build's filters, with the allowlists of --config); default: the rules as written",
    )  # fmt: skip
    p.add_argument("--config", type=Path, help="allowlists and index patterns (default: ./snaptrail.yml)")
    p.add_argument(
        "--fixtures", action="extend", nargs="+", type=Path, metavar="PATH",
        help=f"fixture folders (default: as `snaptrail build`, else {CHECKOUT_FIXTURES})",
    )  # fmt: skip
    p.add_argument(
        "-t", "--target", action="append", choices=sorted(TARGETS),
        help="a target to test (repeatable; default: every target)",
    )  # fmt: skip
    p.add_argument("--format", choices=["text", "json", "junit"], default="text", help="what stdout gets")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="text: list every case, not only failures")
    p.add_argument("--strict", action="store_true", help="fail when a checker's runtime is missing here")
    p.add_argument(
        "--kusto-dir", type=Path, metavar="DIR",
        help="folder of the Kusto npm package (default: $SNAPTRAIL_KUSTO_DIR, else ~/.cache/snaptrail/kusto)",
    )  # fmt: skip
    p.add_argument(
        "--install-checkers", action="store_true",
        help="install the Kusto npm package (into --kusto-dir) and compile the Lucene runner, name what "
        "else is missing, and exit",
    )  # fmt: skip
    p.set_defaults(func=cmd_test)


def _content(args: argparse.Namespace) -> tuple[list[Path], list[Path], Config, list[Path]]:
    """(rules, filters, config, fixture folders). Filters are off unless --filters is given; with
    no paths it means the filters `snaptrail build` would apply."""
    from snaptrail.content import resolve_content

    filters = [] if args.filters is None else (args.filters or None)  # None: the default filters
    content = resolve_content(args.rules, filters, args.fixtures, args.config)
    print(f"{PROG}: {content.describe()}", file=sys.stderr)
    return list(content.rules), list(content.filters), content.config, list(content.fixtures)


def cmd_test(args: argparse.Namespace) -> int:
    from snaptrail.corpus import Corpus
    from snaptrail.fixtures import load_fixtures
    from snaptrail.verify.run import verify

    if args.install_checkers:
        return install_checkers(args.kusto_dir)
    rules, filters, config, fixtures = _content(args)
    absent = [path for path in fixtures if not path.is_dir()]
    if absent or not fixtures:
        where = ", ".join(map(str, absent)) or "none found"
        raise RuleLoadError(f"no fixture folder ({where}); pass --fixtures PATH")
    corpus = Corpus.load(rules, filters, config)
    report = verify(corpus, load_fixtures(fixtures), args.target, args.kusto_dir)
    # A rule a target fails to compile (not a declared limitation) is a failure of its own.
    broken = [c for target in (args.target or TARGETS) for c in corpus.compiled(target).values()
              if not c.ok and not c.limitation]  # fmt: skip
    for conversion in broken:
        print(f"{PROG}: error: {conversion.error}", file=sys.stderr)

    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(as_junit(report), encoding="utf-8")
    if args.format == "json":
        print(as_json(report))
    elif args.format == "junit":
        print(as_junit(report))
    else:
        print(as_text(report, args.verbose))
    if args.format != "text":  # stdout holds the document; the people read stderr
        print(summary_text(report), file=sys.stderr)
    failed = bool(broken) or not report.ok or (args.strict and bool(report.missing))
    return 1 if failed else 0


def install_checkers(kusto_dir: Path | None) -> int:
    """Install what snaptrail can install itself (the npm package, the compiled Lucene runner) and
    name the install command of everything else that is missing."""
    from snaptrail.verify import kusto_checker, runtimes

    failed = False
    try:
        where = kusto_checker.install(kusto_dir)
        print(f"{PROG}: {kusto_checker.PACKAGE} {kusto_checker.required_version()} is installed in {where}")
    except RuntimeError as error:
        print(f"{PROG}: cannot install the Kusto checker: {error}", file=sys.stderr)
        failed = True
    # Probing compiles Lucene's runner and starts node once; a failed npm install is reported already.
    missing = runtimes.missing(set(runtimes.RUNTIMES) - ({"kusto"} if failed else set()), kusto_dir)
    for key, why in missing.items():
        runtime = runtimes.RUNTIMES[key]
        print(f"{PROG}: {runtime.name} cannot run here: {why}\n  install: {runtime.install}", file=sys.stderr)
    if not missing and not failed:
        print(f"{PROG}: every checker runs here")
    return 1 if failed or missing else 0


# ---- output -------------------------------------------------------------------------------------


def summary_text(report: Report) -> str:
    lines = [f"{PROG}: not available here: {missing.text()}" for missing in report.missing]
    lines += [f"{PROG}: fixture problem: {problem}" for problem in report.problems]
    if report.ignored_cases:
        lines.append(f"{PROG}: {report.ignored_cases} cases name rules that are not loaded (not run)")
    lines += [f"{PROG}: {report.by_target[target].summary()}" for target in report.targets]
    failures = len(report.failures)
    verdict = "ok" if report.ok else f"{failures} failed cases, {len(report.problems)} fixture problems"
    cases = sum(sum(t.counts.values()) for t in report.by_target.values())
    rules = f"{report.rules} rule{'' if report.rules == 1 else 's'}"
    lines.append(f"{PROG}: {rules}, {cases} case runs on {len(report.targets)} targets: {verdict}")
    return "\n".join(lines)


def as_text(report: Report, verbose: bool = False) -> str:
    shown = report.outcomes if verbose else report.failures
    lines = [f"{outcome.status.upper()}: {outcome.text()}" for outcome in shown]
    return "\n".join([*lines, summary_text(report)])


def as_json(report: Report) -> str:
    return json.dumps(
        {
            "ok": report.ok,
            "rules": report.rules,
            "targets": {
                target: {
                    "parser": summary.parser,
                    "engine": summary.engine,
                    **{status.replace(" ", "_"): summary.counts[status] for status in STATUSES},
                    "not_executed_reasons": dict(summary.not_executed),
                    "queries_accepted": summary.queries_parsed,
                    "queries_rejected": summary.queries_rejected,
                }
                for target, summary in report.by_target.items()
            },
            "missing_runtimes": [asdict(missing) for missing in report.missing],
            "fixture_problems": report.problems,
            "ignored_cases": report.ignored_cases,
            "outcomes": [asdict(outcome) for outcome in report.outcomes],
        },
        indent=2,
    )


def as_junit(report: Report) -> str:
    """One test suite per target, one test case per fixture case (classname: the rule); not executed
    and cannot-express cases are <skipped> with the reason, so CI shows them as not run, not passed."""
    root = ElementTree.Element("testsuites", name=PROG)
    if report.problems:
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name="fixtures",
            tests=str(len(report.problems)),
            failures=str(len(report.problems)),
        )
        for problem in report.problems:
            case = ElementTree.SubElement(suite, "testcase", classname="snaptrail.fixtures", name=problem)
            ElementTree.SubElement(case, "failure", message=problem).text = problem
    for target in report.targets:
        outcomes = [outcome for outcome in report.outcomes if outcome.target == target]
        summary = report.by_target[target]
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=target,
            tests=str(len(outcomes)),
            failures=str(summary.counts[FAILED]),
            skipped=str(summary.counts[NOT_EXECUTED] + summary.counts[CANNOT_EXPRESS]),
        )
        missing = [m.text() for m in report.missing if target in m.targets]
        if missing:
            ElementTree.SubElement(suite, "system-err").text = "not available here: " + "\n".join(missing)
        for outcome in outcomes:
            _junit_case(suite, outcome)
    return ElementTree.tostring(root, encoding="unicode")


def _junit_case(suite: ElementTree.Element, outcome: Outcome) -> None:
    case = ElementTree.SubElement(
        suite,
        "testcase",
        classname=f"{outcome.target}.{outcome.rule}",
        name=f"{outcome.cases_file}:{outcome.line}: {outcome.record} (expect {outcome.expect})",
    )
    if outcome.status == FAILED:
        ElementTree.SubElement(case, "failure", message=outcome.detail).text = outcome.text()
    elif outcome.status in (NOT_EXECUTED, CANNOT_EXPRESS):
        ElementTree.SubElement(case, "skipped", message=f"{outcome.status}: {outcome.detail}")
