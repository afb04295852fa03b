"""The `snaptrail` command: convert, build, check, scan, init."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from snaptrail import __version__
from snaptrail.backends import TARGETS
from snaptrail.cloudtrail.registry import RegistryError
from snaptrail.commands.scan import add_options as add_scan_options
from snaptrail.commands.test import add_parser as add_test_parser
from snaptrail.config import ConfigError
from snaptrail.content import Content, resolve_content
from snaptrail.corpus import Corpus, RuleLoadError


def _content(args: argparse.Namespace, command: str) -> Content:
    """What the command runs on (see snaptrail.content), said on one line of stderr."""
    filters = [] if getattr(args, "no_filters", False) else getattr(args, "filters", None)
    content = resolve_content(
        getattr(args, "rules", None), filters, getattr(args, "fixtures_paths", None), args.config
    )
    print(f"snaptrail {command}: {content.describe()}", file=sys.stderr)
    return content


def cmd_convert(args: argparse.Namespace) -> int:
    args.rules = args.paths
    content = _content(args, "convert")
    corpus = Corpus.load(content.rules, content.filters, content.config)
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

    content = _content(args, "build")
    context = BuildContext(content.rules, content.filters, content.config, content.fixtures)
    errors = [conversion.error for conversion in context.errors()] + context.collisions()
    for error in errors:
        print(f"snaptrail build: error: {error}", file=sys.stderr)
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

    content = _content(args, "check")
    result = run_checks(content.rules, content.fixtures, whole_corpus=args.rules is None)
    issues = result.issues
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(as_junit(issues, result.rule_files), encoding="utf-8")
    if args.format == "json":
        print(as_json(issues))
    else:
        for issue in issues:
            print(issue.text())
    print(f"snaptrail check: {len(result.rule_files)} rules, {len(issues)} issues", file=sys.stderr)
    return 1 if issues else 0


def cmd_scan(args: argparse.Namespace) -> int:
    from snaptrail.commands import scan

    return scan.run(args, _content)


def cmd_init(args: argparse.Namespace) -> int:
    from snaptrail.scaffold import ScaffoldError, init

    try:
        written = init(args.folder)
    except (ScaffoldError, OSError) as error:
        print(f"snaptrail init: {error}", file=sys.stderr)
        return 2
    print(f"snaptrail init: {len(written)} files into {args.folder}/; next: cd {args.folder}")
    return 0


RULES_HELP = "a rule file or folder; repeat for more (default: content.rules of snaptrail.yml, else shipped)"


def _content_options(p: argparse.ArgumentParser, rules: bool = True, fixtures: bool = False) -> None:
    if rules:
        p.add_argument("--rules", action="append", type=Path, metavar="PATH", help=RULES_HELP)
    p.add_argument(
        "--filters", nargs="*", type=Path, help="Sigma filter files or folders (default: the shipped filters)"
    )
    p.add_argument("--no-filters", action="store_true", help="apply no filters (the rules as written)")
    p.add_argument("--config", type=Path, help="settings and allowlists (default: ./snaptrail.yml)")
    if fixtures:
        p.add_argument(
            "--fixtures", dest="fixtures_paths", action="append", type=Path, metavar="PATH",
            help="a fixture folder; repeat for more (default: snaptrail.yml content.fixtures)",
        )  # fmt: skip


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="snaptrail", description=__doc__)
    root.add_argument("--version", action="version", version=f"snaptrail {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="compile Sigma rules (any aws/cloudtrail rule) for one target")
    p.add_argument("-t", "--target", required=True, choices=sorted(TARGETS))
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("paths", nargs="+", type=Path, help="rule files or folders")
    _content_options(p, rules=False)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("build", help="build every artifact into dist/")
    _content_options(p, fixtures=True)
    p.add_argument("--out", type=Path, default=Path("dist"))
    p.add_argument(
        "--update-readme", type=Path, metavar="README", help="rewrite the coverage table in this file"
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", help="lint rules offline: pySigma + SigmaHQ validators and snaptrail's own")
    _content_options(p, fixtures=True)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--junit", type=Path, help="also write JUnit XML to this file")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("scan", help="run every rule over CloudTrail log files on DuckDB")
    add_scan_options(p)
    _content_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("init", help="scaffold a content repository of your own")
    p.add_argument("folder", type=Path, help="the new repository's folder (created)")
    p.set_defaults(func=cmd_init)
    add_test_parser(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RuleLoadError, ConfigError, RegistryError) as error:
        print(f"snaptrail: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
