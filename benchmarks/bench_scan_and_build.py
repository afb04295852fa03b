"""Speed and memory of `snaptrail scan` and `snaptrail build` (run by hand; results go in the README).

    .venv/bin/python benchmarks/bench_scan_and_build.py [--events 100000]

scan: a synthetic trail of N records made from the fixture records (new eventIDs, times spread over
a day), written as gzip'd S3 log files of 1,000 records, scanned with every rule and chain.
build: the full `snaptrail build` into a temporary folder. Wall time and peak RSS are reported.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def templates() -> list[dict]:
    records = []
    for path in sorted((REPO / "tests" / "fixtures").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        records.extend(data["Records"] if "Records" in data else [data])
    return records


def write_trail(folder: Path, count: int) -> None:
    rng = random.Random(7)
    base = templates()
    start = datetime(2026, 6, 1, tzinfo=UTC)
    batch = []
    for index in range(count):
        record = dict(rng.choice(base))
        record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
        record["eventTime"] = (start + timedelta(seconds=index * 86400 // count)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        batch.append(record)
        if len(batch) == 1000 or index == count - 1:
            name = folder / f"trail_{index // 1000:05d}.json.gz"
            name.write_bytes(gzip.compress(json.dumps({"Records": batch}).encode()))
            batch = []


# Each command runs in its own interpreter that reports its own peak RSS (RUSAGE_CHILDREN would
# give the maximum over every child so far).
_MEASURE = (
    "import resource, sys\n"
    "from snaptrail.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
    "sys.exit(code)\n"
)


def run(arguments: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *arguments], cwd=REPO, check=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    stderr = result.stderr.decode()
    if result.returncode != 0:
        raise SystemExit(f"snaptrail {' '.join(arguments)} failed ({result.returncode}):\n{stderr[-2000:]}")
    peak_kb = int(stderr.rsplit("peak_rss_kb=", 1)[1].split()[0])
    return elapsed, peak_kb // 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        trail = Path(work) / "trail"
        trail.mkdir()
        write_trail(trail, args.events)
        scan_s, scan_mb = run(["scan", str(trail), "--format", "jsonl"])
        build_s, build_mb = run(["build", "--out", str(Path(work) / "dist")])
    rate = args.events / scan_s
    print(f"scan  {args.events:>7} events: {scan_s:6.1f} s, {rate:>8.0f} events/s, peak RSS {scan_mb} MB")
    print(f"build (all rules, all targets and packages): {build_s:6.1f} s, peak RSS {build_mb} MB")


if __name__ == "__main__":
    main()
