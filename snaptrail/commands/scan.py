"""`snaptrail scan`: its options, its output formats and its exit status.

Exit status: 0 when every input was read and every rule ran, alerts or not; the flags below add up;
2 (as for every command) when nothing was scanned: a bad rule, config or option.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from snaptrail.corpus import LEVELS
from snaptrail.spark_scan import LOCAL as SPARK_LOCAL  # pyspark itself is imported only to run

if TYPE_CHECKING:
    from snaptrail.content import Content
    from snaptrail.scan import Alert, ScanResult

SCAN_UNREADABLE_INPUT = 1
SCAN_RULES_NOT_RUN = 4
SCAN_ALERT_AT_FAIL_LEVEL = 8  # --fail-on LEVEL: an alert at or above it (for CI)
SCAN_PROBLEMS_SHOWN = 50  # on stderr; --report holds every one
PROG = "snaptrail scan"


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        help="log files or folders (.json, .json.gz, .jsonl); with --engine spark also URIs (s3a://...)",
    )
    p.add_argument(
        "--engine", choices=["duckdb", "spark"], default="duckdb",
        help="duckdb (default, embedded) or spark (an organisation's logs on a cluster; snaptrail[spark])",
    )  # fmt: skip
    p.add_argument(
        "--master", default=None, help=f"with --engine spark: the Spark master URL (default {SPARK_LOCAL})"
    )
    p.add_argument(
        "--format", choices=["table", "jsonl", "html"], default="table",
        help="table (default), one JSON object per alert, or one self-contained HTML page",
    )  # fmt: skip
    p.add_argument("--min-level", choices=LEVELS, default="informational", help="leave out alerts below it")
    p.add_argument(
        "--fail-on", choices=LEVELS, metavar="LEVEL",
        help=f"add {SCAN_ALERT_AT_FAIL_LEVEL} to the exit status when an alert is at or above LEVEL",
    )  # fmt: skip
    p.add_argument(
        "--report",
        type=Path,
        help="also write the run's summary and every unreadable input as JSON to this file",
    )


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    """Files and records done, rate and time left, on stderr when it is a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("scan"), BarColumn(), MofNCompleteColumn(),
        TextColumn("files · {task.fields[records]:,} records · {task.fields[rate]:,.0f} records/s"),
        TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scan", total=None, records=0, rate=0.0)

        def update(done: int, total: int, records: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(
                task, completed=done, total=total, records=records, rate=records / elapsed if elapsed else 0.0
            )

        yield update


def run(args: argparse.Namespace, content_for: Callable[[argparse.Namespace, str], Content]) -> int:
    """The command; `content_for` is the CLI's one resolver of rules, filters and config."""
    from snaptrail.cloudtrail.records import Limits
    from snaptrail.scan import scan

    content = content_for(args, "scan")
    if args.engine == "spark":
        spark_result = _on_spark(args, content)
        if spark_result is None:
            return 2
        result = spark_result
    else:
        uris = [path for path in args.paths if "://" in path]
        if uris:
            _say(f"{uris[0]}: a URI needs --engine spark; the embedded engine reads local files and folders")
            return 2
        settings = content.config.scan
        limits = Limits(settings.max_record_bytes, settings.max_record_depth)
        with _progress(sys.stderr.isatty()) as progress:
            result = scan(
                [Path(p) for p in args.paths],
                content.rules,
                content.config,
                content.filters,
                limits,
                progress,
            )
    floor = LEVELS.index(args.min_level)
    shown = [alert for alert in result.alerts if LEVELS.index(alert.level) >= floor]
    if args.format == "jsonl":
        for alert in shown:
            print(json.dumps(alert.as_dict(), sort_keys=True))
    elif args.format == "html":
        from snaptrail.report import scan_html

        result.alerts = shown
        print(scan_html(result, result.rules), end="")
    else:
        print(f"{'time':<22} {'level':<13} {'rule':<58} event_ids")
        for alert in shown:
            print(f"{alert.time:<22} {alert.level:<13} {alert.title[:58]:<58} {','.join(alert.event_ids)}")
    _summary(args, result, shown)
    if args.report and not _write_report(args.report, result, shown):
        return 2
    status = SCAN_UNREADABLE_INPUT if result.read.problems else 0
    status |= SCAN_RULES_NOT_RUN if result.failed_rules else 0
    if args.fail_on and any(LEVELS.index(a.level) >= LEVELS.index(args.fail_on) for a in shown):
        status |= SCAN_ALERT_AT_FAIL_LEVEL
    return status


def _on_spark(args: argparse.Namespace, content: Content) -> ScanResult | None:
    """The rules and chains on Spark (snaptrail.spark_scan); Spark reads the logs itself, so the
    reading summary has no per-record accounting."""
    try:
        import pyspark  # noqa: F401

        from snaptrail.spark_scan import TARGET, scan_on_spark
    except ImportError as error:
        _say(f"--engine spark needs pyspark ({error.name} is not installed): pip install 'snaptrail[spark]'")
        return None
    from snaptrail.cloudtrail.records import ReadReport
    from snaptrail.corpus import Corpus
    from snaptrail.scan import ScanResult

    corpus = Corpus.load(content.rules, content.filters, content.config)
    compiled = corpus.compiled(TARGET)
    failed = [conversion for conversion in compiled.values() if not conversion.ok]
    alerts = scan_on_spark(args.paths, corpus, args.master or SPARK_LOCAL)
    _say(f"on Spark ({args.master or SPARK_LOCAL}): Spark read the logs; records are not counted or checked")
    return ScanResult(alerts, ReadReport(), failed, corpus.filters, rules=len(compiled) - len(failed))


def _summary(args: argparse.Namespace, result: ScanResult, shown: list[Alert]) -> None:
    read = result.read
    below = len(result.alerts) - len(shown) if args.format != "html" else 0
    alerts = f"{len(shown)} alerts{f' ({below} below --min-level left out)' if below else ''}"
    if args.engine == "spark":
        _say(alerts)
    else:
        _say(
            f"{read.read} records from {read.files} files ({read.parsed} about the rules' events, parsed), "
            f"{alerts}; {len(read.problems)} unreadable, {read.duplicates} duplicate records (read once), "
            f"{read.skipped_files} files skipped"
        )
    by_rule = Counter((alert.level, alert.title) for alert in shown)
    for (level, title), count in sorted(
        by_rule.items(), key=lambda item: (-LEVELS.index(item[0][0]), item[0][1])
    ):
        _say(f"  {count:>6}  {level:<13} {title}")
    for note in read.notes[:SCAN_PROBLEMS_SHOWN]:
        _say(f"note: {note}")
    for problem in read.problems[:SCAN_PROBLEMS_SHOWN]:
        _say(f"unreadable input: {problem}")
    hidden = max(0, len(read.problems) - SCAN_PROBLEMS_SHOWN) + max(0, len(read.notes) - SCAN_PROBLEMS_SHOWN)
    if hidden:
        where = f"in {args.report}" if args.report else "with --report FILE"
        _say(f"{hidden} more problems and notes, listed {where}")
    if result.candidates.unconstrained:
        _say(
            f"every record parsed: these rules pin no eventName: {'; '.join(result.candidates.unconstrained)}"
        )
    for conversion in result.failed_rules:
        _say(f"rule not run: {conversion.error}")
    for state in result.filters:
        if not state.active:
            _say(f"filter off: {state.title} ({state.reason})")


def _write_report(path: Path, result: ScanResult, shown: list[Alert]) -> bool:
    report = {
        **result.read.as_dict(),
        "alerts": len(shown),
        "rules_not_run": [conversion.error for conversion in result.failed_rules],
    }
    try:
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        _say(f"cannot write {path} ({error.strerror or error})")
        return False
    return True
