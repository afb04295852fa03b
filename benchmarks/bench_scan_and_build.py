"""Speed and memory of `snaptrail scan` and `snaptrail build` (run by hand; results go in the README).

    .venv/bin/python benchmarks/bench_scan_and_build.py [--events 100000]

scan: a synthetic trail of N records made from the fixture records (new eventIDs, times spread over
a day), written as gzip'd S3 log files of 1,000 records, scanned with every rule and chain.
build: the full `snaptrail build` into a temporary folder. Wall time and peak RSS are reported.
big record (`--big-record-mb 100`): one S3 log file holding 1,000 records and, among them, one record of
that many megabytes (a request with a huge array of small objects, the worst case for a JSON parser's
memory). The scan must name it and read the rest; its peak RSS is compared with a floor measured in
the same run: a Python process that only decompresses and decodes the same file.

The realistic corpus (busy estate, S3 layout, planted chains, exact expected alerts) and the scan
against the single-core zlib floor are benchmarks/bench_scan_floor.py.
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


# The floor for the big record: read the file as the scan must, nothing more.
_FLOOR = (
    "import gzip, resource, sys\n"
    "text = gzip.decompress(open(sys.argv[1], 'rb').read()).decode('utf-8')\n"
    "sys.stderr.write(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
)


def write_big_record_trail(folder: Path, megabytes: int) -> None:
    base = templates()
    records = []
    for index in range(1000):
        record = dict(base[index % len(base)])
        record["eventID"] = str(uuid.UUID(int=index + 1))
        records.append(record)
    big = dict(base[0])
    big["eventID"] = "big-record"
    item = {"key": "k" * 20, "value": "v" * 20}  # ~40 bytes of JSON per object
    big["requestParameters"] = {"tagSet": {"items": [item] * (megabytes * 1024 * 1024 // 40)}}
    records.insert(500, big)
    (folder / "big.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), 1)
    )


def run(arguments: list[str], script: str = _MEASURE, ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(
        # -P: the checkout (the working folder) is not put on sys.path, so the installed snaptrail,
        # backends included, is what runs; the checkout's rules are still the content it uses.
        [sys.executable, "-P", "-c", script, *arguments], cwd=REPO, check=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    stderr = result.stderr.decode()
    if result.returncode not in ok:
        raise SystemExit(f"snaptrail {' '.join(arguments)} failed ({result.returncode}):\n{stderr[-2000:]}")
    peak_kb = int(stderr.rsplit("peak_rss_kb=", 1)[1].split()[0])
    return elapsed, peak_kb // 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--big-record-mb", type=int, default=0, help="also scan a file with one record this large"
    )
    args = parser.parse_args()
    if args.big_record_mb:
        with tempfile.TemporaryDirectory() as work:
            write_big_record_trail(Path(work), args.big_record_mb)
            _, floor_mb = run([str(Path(work) / "big.json.gz")], _FLOOR)
            big_s, big_mb = run(["scan", work, "--format", "jsonl"], ok=(1,))  # 1: unreadable input named
        print(
            f"scan of one {args.big_record_mb} MB record among 1,000: {big_s:6.1f} s, peak RSS {big_mb} MB; "
            f"floor (decompress + decode only) {floor_mb} MB: {big_mb / floor_mb:.2f}x"
        )
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
