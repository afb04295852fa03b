"""The `snaptrail` command: convert, build, check, scan."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from snaptrail import __version__
from snaptrail.backends import TARGETS
from snaptrail.config import ConfigError, load_config
from snaptrail.corpus import Corpus, RuleLoadError

DEFAULT_RULES = Path("sigma/rules")
DEFAULT_FILTERS = Path("sigma/filters")
DEFAULT_FIXTURES = Path("tests/fixtures")


def _rules(paths: list[Path] | None) -> list[Path]:
    if paths:
        return paths
    if not DEFAULT_RULES.is_dir():
        raise RuleLoadError(f"no rules given and no '{DEFAULT_RULES}/' folder here; pass --rules PATH")
    return [DEFAULT_RULES]


def _filters(paths: list[Path] | None) -> list[Path]:
    """Explicit filter folders, else the repository's sigma/filters when it is there."""
    if paths is not None:
        return paths
    return [DEFAULT_FILTERS] if DEFAULT_FILTERS.is_dir() else []


def cmd_convert(args: argparse.Namespace) -> int:
    corpus = Corpus.load(args.paths, args.filters or [], load_config(args.config))
    results = list(corpus.compiled(args.target).values())
    failed = [r for r in results if not r.ok]
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in results], indent=2))
    elif results:
        print("\n\n".join(str(r.query) for r in results if r.ok))
    for result in failed:
        kind = "unsupported" if result.limitation else "error"
        print(f"snaptrail convert: {kind}: {result.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_build(args: argparse.Namespace) -> int:
    from snaptrail.build import build_all
    from snaptrail.build.attack import update_readme
    from snaptrail.build.context import BuildContext

    fixtures = args.fixtures if args.fixtures is not None else DEFAULT_FIXTURES
    context = BuildContext(
        _rules(args.rules),
        _filters(args.filters),
        load_config(args.config),
        [fixtures] if fixtures.is_dir() else [],
    )
    errors = context.errors()
    for conversion in errors:
        print(f"snaptrail build: error: {conversion.error}", file=sys.stderr)
    if errors:
        print(f"snaptrail build: {len(errors)} errors; nothing written", file=sys.stderr)
        return 1
    written = build_all(context, args.out)
    limitations = sum(1 for by_rule in context.conversions.values() for c in by_rule.values() if c.limitation)
    parts = ", ".join(f"{name}: {len(paths)} files" for name, paths in written.items())
    print(
        f"snaptrail build: {len(context.rules)} rules into {args.out}/ ({parts}); "
        f"{limitations} rule/target pairs not expressible (see {args.out}/queries/UNSUPPORTED.md)"
    )
    if args.update_readme:
        changed = update_readme(args.update_readme, context)
        print(
            f"snaptrail build: coverage table in {args.update_readme} {'updated' if changed else 'unchanged'}"
        )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from snaptrail.checks.report import as_json, as_junit
    from snaptrail.checks.run import run_checks

    rules = _rules(args.rules)
    fixtures = args.fixtures if args.fixtures is not None else DEFAULT_FIXTURES
    result = run_checks(rules, fixtures if fixtures.is_dir() else None, whole_corpus=args.rules is None)
    issues = result.issues
    if args.junit:
        args.junit.write_text(as_junit(issues, result.rule_files), encoding="utf-8")
    if args.format == "json":
        print(as_json(issues))
    else:
        for issue in issues:
            print(issue.text())
    print(f"snaptrail check: {len(result.rule_files)} rules, {len(issues)} issues", file=sys.stderr)
    return 1 if issues else 0


def cmd_scan(args: argparse.Namespace) -> int:
    from snaptrail.scan import scan

    result = scan(args.paths, _rules(args.rules), load_config(args.config), _filters(args.filters))
    if args.format == "jsonl":
        for alert in result.alerts:
            print(json.dumps(alert.as_dict(), sort_keys=True))
    else:
        print(f"{'time':<22} {'level':<13} {'rule':<58} event_ids")
        for alert in result.alerts:
            print(f"{alert.time:<22} {alert.level:<13} {alert.title[:58]:<58} {','.join(alert.event_ids)}")
    summary = (
        f"{len(result.read.records)} records from {result.read.files} files, {len(result.alerts)} alerts"
    )
    print(f"snaptrail scan: {summary}", file=sys.stderr)
    for note in result.read.notes:
        print(f"snaptrail scan: note: {note}", file=sys.stderr)
    for problem in result.read.problems:
        print(f"snaptrail scan: unreadable input: {problem}", file=sys.stderr)
    for conversion in result.failed_rules:
        print(f"snaptrail scan: rule not run: {conversion.error}", file=sys.stderr)
    for state in result.filters:
        if not state.active:
            print(f"snaptrail scan: filter off: {state.title} ({state.reason})", file=sys.stderr)
    return 1 if result.read.problems or result.failed_rules else 0


def _common(p: argparse.ArgumentParser, rules: bool = True) -> None:
    if rules:
        p.add_argument(
            "--rules", nargs="+", type=Path, help=f"rule files or folders (default: {DEFAULT_RULES})"
        )
    p.add_argument("--filters", nargs="*", type=Path, help=f"filter folders (default: {DEFAULT_FILTERS})")
    p.add_argument("--config", type=Path, help="configuration with the allowlists (default: ./snaptrail.yml)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="snaptrail", description=__doc__)
    root.add_argument("--version", action="version", version=f"snaptrail {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="compile Sigma rules (any aws/cloudtrail rule) for one target")
    p.add_argument("-t", "--target", required=True, choices=sorted(TARGETS))
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("paths", nargs="+", type=Path, help="rule files or folders")
    p.add_argument(
        "--filters", nargs="*", type=Path, help="Sigma filter files or folders to apply (default: none)"
    )
    p.add_argument("--config", type=Path, help="allowlists for the filters (default: ./snaptrail.yml)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("build", help="build every artifact into dist/")
    _common(p)
    p.add_argument("--out", type=Path, default=Path("dist"))
    p.add_argument("--fixtures", type=Path, help=f"fixture folder the docs summarise (default: {DEFAULT_FIXTURES})")
    p.add_argument(
        "--update-readme", type=Path, metavar="README", help="rewrite the coverage table in this file"
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", help="lint rules offline: pySigma + SigmaHQ validators and snaptrail's own")
    p.add_argument("--rules", nargs="+", type=Path, help=f"rule files or folders (default: {DEFAULT_RULES})")
    p.add_argument("--fixtures", type=Path, help=f"fixture folder (default: {DEFAULT_FIXTURES})")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--junit", type=Path, help="also write JUnit XML to this file")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("scan", help="run every rule over CloudTrail log files on DuckDB")
    p.add_argument("paths", nargs="+", type=Path, help="log files or folders (.json, .json.gz, .jsonl)")
    _common(p)
    p.add_argument("--format", choices=["table", "jsonl"], default="table")
    p.set_defaults(func=cmd_scan)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RuleLoadError, ConfigError) as error:
        print(f"snaptrail: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
