"""`snaptrail scan` on the realistic corpus, against the single-core zlib floor measured in the same run.

    .venv/bin/python benchmarks/bench_scan_floor.py [--sizes 300000,1000000] [--corpus-dir DIR]

For each size the corpus of trail_corpus.py is generated (or reused from --corpus-dir/<size>); then,
`--repeat` times and interleaved, the floor and the scan run, each in its own process:
- floor: one Python process reading and `zlib.decompress`-ing every file of the corpus, timed inside
  the process (no interpreter start-up): what any scan has to spend at least, on one core;
- scan: the `snaptrail scan AWSLogs/ --format jsonl` command, timed from start to exit (interpreter,
  rule compilation and all), its peak RSS read from its own rusage (os.wait4), its alerts compared
  with the corpus's expected.jsonl: expected, found, missing, extra. Twice: "cold" with an empty
  cache folder (the rules loaded and compiled, as on the first scan after a change of rules,
  settings or snaptrail), then "warm" with the plan that scan stored (snaptrail.scan_plan). Both
  scans' alerts are compared.
A guard stops a scan past --timeout seconds or --rss-cap-mb of resident memory (polled), and the
row says so. The time of a scan of one tiny file (start-up and compilation) is reported beside.
The targets (issue #15): at 1M events the scan takes at most 2x the floor; peak RSS at most 500 MB
at every size; exactly the expected alerts at every size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import trail_corpus

REPO = trail_corpus.REPO
SNAPTRAIL = Path(sys.executable).parent / "snaptrail"

_FLOOR = (
    "import sys, time, zlib\n"
    "paths = open(sys.argv[1], encoding='utf-8').read().splitlines()\n"
    "start = time.perf_counter()\n"
    "size = 0\n"
    "for path in paths:\n"
    "    with open(path, 'rb') as handle:\n"
    "        size += len(zlib.decompress(handle.read(), 31))\n"
    "print(time.perf_counter() - start, size)\n"
)

TARGET_RATIO = 2.0  # at 1M events
TARGET_RSS_MB = 500


@dataclass
class ScanRun:
    seconds: float
    peak_mb: int
    status: str  # "ok", "exit N", "timeout after S s", "stopped at N MB after S s"
    alerts: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)
    stderr: str = ""


def floor(files: list[Path]) -> tuple[float, int]:
    """(seconds, decompressed bytes) of decompressing every file once, on one core."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as listing:
        listing.write("\n".join(map(str, files)))
    try:
        out = subprocess.run(
            [sys.executable, "-c", _FLOOR, listing.name], check=True, capture_output=True, text=True
        ).stdout.split()
    finally:
        os.unlink(listing.name)
    return float(out[0]), int(out[1])


def _rss_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _reason(stderr: str) -> str:
    """The line of a failed scan's stderr that says why (an error, else its last line), shortened."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line or "error:" in line]
    return (named or lines or ["no output"])[0][:160]


def scan(logs: Path, timeout: float, rss_cap_mb: int, cache: Path, engine: str = "duckdb") -> ScanRun:
    """One `snaptrail scan` of `logs` with this cache folder and engine, guarded; its own rusage gives
    the peak RSS (Spark's JVM included: the scan's own child)."""
    with tempfile.TemporaryDirectory() as work:
        out_path, err_path = Path(work) / "alerts.jsonl", Path(work) / "stderr.txt"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            config = str(trail_corpus.CONFIG)
            command = [str(SNAPTRAIL), "scan", str(logs), "--format", "jsonl", "--config", config]
            command += ["--engine", engine]
            environment = {**os.environ, "SNAPTRAIL_CACHE_DIR": str(cache)}
            process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=err, env=environment)
            stopped: list[str] = []
            done = threading.Event()

            def guard() -> None:
                while not done.wait(0.2):
                    elapsed = time.perf_counter() - started
                    rss = _rss_mb(process.pid)
                    if elapsed > timeout:
                        stopped.append(f"timeout after {elapsed:.0f} s")
                    elif rss > rss_cap_mb:
                        stopped.append(f"stopped at {rss} MB after {elapsed:.0f} s")
                    if stopped:
                        os.kill(process.pid, signal.SIGKILL)
                        return

            watcher = threading.Thread(target=guard, daemon=True)
            watcher.start()
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            done.set()
            watcher.join()
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        peak_mb = usage.ru_maxrss // 1024
        if stopped:
            return ScanRun(seconds, peak_mb, stopped[0], stderr=stderr)
        alerts: Counter[tuple[str, tuple[str, ...]]] = Counter()
        with out_path.open(encoding="utf-8") as lines:
            for line in lines:
                alert = json.loads(line)
                alerts[(alert["rule_id"], tuple(alert["event_ids"]))] += 1
        status_text = "ok" if process.returncode == 0 else f"exit {process.returncode}: {_reason(stderr)}"
        return ScanRun(seconds, peak_mb, status_text, alerts, stderr)


def startup_seconds() -> tuple[float, float]:
    """A scan of one file of one record, cold and warm: interpreter start, rule loading and
    compilation (cold only), an empty DuckDB."""
    with tempfile.TemporaryDirectory() as work:
        record = json.loads(trail_corpus.background_sample()[0])
        Path(work, "logs").mkdir()
        Path(work, "logs", "one.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": [record]}).encode())
        )
        cold = scan(Path(work, "logs"), 600, 4096, Path(work, "cache")).seconds
        return cold, scan(Path(work, "logs"), 600, 4096, Path(work, "cache")).seconds


@dataclass
class Row:
    events: int
    files: int
    gzip_mb: float
    json_mb: float
    generation: str
    floor_s: float
    cold_s: float
    scan_s: float  # warm
    peak_mb: int
    status: str
    expected: int
    found: int
    missing: int
    extra: int

    @property
    def ratio(self) -> float:
        return self.scan_s / self.floor_s

    def markdown(self) -> str:
        return (
            f"| {self.events:,} | {self.files:,} | {self.gzip_mb:,.0f} / {self.json_mb:,.0f} "
            f"| {self.floor_s:.2f} | {self.cold_s:.1f} ({self.cold_s / self.floor_s:.1f}x) "
            f"| {self.scan_s:.1f} ({self.ratio:.1f}x) | {self.peak_mb:,} "
            f"| {self.expected:,} / {self.found:,} / {self.missing:,} / {self.extra:,} | {self.status} |"
        )


HEADER = (
    "| events | files | gzip / JSON MB | floor s | cold scan s (/ floor) | warm scan s (/ floor) "
    "| peak RSS MB | alerts expected / found / missing / extra | scan |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---|---|"
)


def measure(size: int, folder: Path, args: argparse.Namespace) -> Row:
    corpus = trail_corpus.ensure(folder, size, args.workers, log=True)
    made = f"{corpus.manifest['generation_s']:.0f} s to generate"
    generation = f"reused ({made})" if corpus.reused else made
    files = list(corpus.files())
    print(f"corpus {size:,}: {len(files):,} files, {generation}", file=sys.stderr)
    floors: list[float] = []
    colds: list[ScanRun] = []
    runs: list[ScanRun] = []
    json_bytes = 0
    for _ in range(args.repeat):
        seconds, json_bytes = floor(files)
        floors.append(seconds)
        print(f"  floor {seconds:.2f} s", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="snaptrail-bench-cache-") as cache:
            for label, into in (("cold", colds), ("warm", runs)):
                run = scan(corpus.logs, args.timeout, args.rss_cap_mb, Path(cache))
                into.append(run)
                print(
                    f"  {label} scan {run.seconds:.1f} s, peak {run.peak_mb} MB, {run.status}",
                    file=sys.stderr,
                )
                if run.status != "ok":
                    print("  " + "\n  ".join(run.stderr.strip().splitlines()[-12:]), file=sys.stderr)
                    break
        if any(run.status != "ok" for run in colds + runs):
            break
    expected = corpus.expected()
    every = colds + runs
    failed = [run for run in every if run.status != "ok"]

    def distance(run: ScanRun) -> int:
        return sum(((expected - run.alerts) + (run.alerts - expected)).values())

    # The row shows a failed scan, else the scan furthest from the expected alerts: every run counts.
    last = failed[0] if failed else max(every, key=distance)
    found = last.alerts
    checked = last.status in ("ok",) or last.status.startswith("exit")
    if args.spark:
        with tempfile.TemporaryDirectory(prefix="snaptrail-bench-cache-") as cache:
            spark = scan(corpus.logs, args.timeout, args.rss_cap_mb, Path(cache), engine="spark")
        missing, extra = sum((expected - spark.alerts).values()), sum((spark.alerts - expected).values())
        print(
            f"  spark scan {spark.seconds:.1f} s, {spark.status}; alerts expected / found / missing / extra: "
            f"{sum(expected.values()):,} / {sum(spark.alerts.values()):,} / {missing:,} / {extra:,}",
            file=sys.stderr,
        )
    return Row(
        events=size,
        files=len(files),
        gzip_mb=corpus.manifest["gzip_bytes"] / 1e6,
        json_mb=json_bytes / 1e6,
        generation=generation,
        floor_s=statistics.median(floors),
        cold_s=statistics.median(r.seconds for r in colds),
        scan_s=statistics.median(r.seconds for r in runs) if runs else float("nan"),
        peak_mb=max(r.peak_mb for r in colds + runs),
        status=last.status,
        expected=sum(expected.values()),
        found=sum(found.values()) if checked else 0,
        missing=sum((expected - found).values()) if checked else 0,
        extra=sum((found - expected).values()) if checked else 0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="300000,1000000", help="comma-separated event counts")
    parser.add_argument("--corpus-dir", type=Path, help="where corpora are kept (default: the temp dir)")
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="generator processes"
    )
    parser.add_argument("--repeat", type=int, default=1, help="floor and scan runs per size (median)")
    parser.add_argument("--timeout", type=float, default=3600, help="stop a scan after this many seconds")
    parser.add_argument("--rss-cap-mb", type=int, default=8000, help="stop a scan above this RSS")
    parser.add_argument("--generate-only", action="store_true", help="make the corpora, measure nothing")
    parser.add_argument(
        "--spark", action="store_true", help="also scan each corpus once with --engine spark (local mode)"
    )
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
    root = args.corpus_dir or Path(tempfile.gettempdir()) / "snaptrail-corpus"
    rows: list[Row] = []
    try:
        if args.generate_only:
            for size in sizes:
                corpus = trail_corpus.ensure(root / str(size), size, args.workers, log=True)
                print(json.dumps({"folder": str(corpus.folder), **corpus.manifest}))
            return 0
        startup = startup_seconds()
        for size in sizes:
            rows.append(measure(size, root / str(size), args))
    except trail_corpus.CorpusError as error:
        print(f"bench_scan_floor: {error}", file=sys.stderr)
        return 2
    print(HEADER)
    for row in rows:
        print(row.markdown())
    print(
        f"\nscan start-up (one file of one record): {startup[0]:.1f} s cold, {startup[1]:.1f} s warm; "
        f"corpora in {root}; targets: "
        f"<= {TARGET_RATIO:.0f}x the floor at 1M events, <= {TARGET_RSS_MB} MB, exact alerts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
