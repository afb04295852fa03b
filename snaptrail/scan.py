"""`snaptrail scan`: every rule over CloudTrail logs, on the embedded DuckDB engine.

Streaming: worker processes read, decompress and search the files; only the records some rule can
match (snaptrail.candidates) are parsed, checked and sent on; DuckDB holds those, spilling to a
temporary folder beyond its memory limit, and runs the compiled single-event and chain queries
unchanged.
Memory follows the candidates, not the input.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from sigma.rule import SigmaRule

from snaptrail.candidates import Candidates, EventNames, candidates
from snaptrail.cloudtrail.records import FileRead, Limits, ReadReport, Record, log_files, read_file
from snaptrail.config import Config
from snaptrail.corpus import Conversion, Corpus, FilterState
from snaptrail.engine import CloudTrailStore, QueryFailure, event_ids_sql
from snaptrail.scan_plan import ScanPlan, cached_plan, plan_key, save_plan

# DuckDB's share of a scan's memory; the candidates beyond it wait on disk.
STORE_MEMORY_LIMIT = "256MB"
READ_BATCH_FILES = 64  # the most files a worker is handed at once


@dataclass(frozen=True)
class Event:
    """What an alert says about one of its events (the last one, for a chain, is the alert's)."""

    event_id: str
    time: str
    event_source: str
    event_name: str
    account: str
    region: str
    principal: str
    source_ip: str
    file: str  # file and position the record was read from
    resources: tuple[str, ...] = ()  # snapshot, volume, instance, image, security group, DB ids named


@dataclass(frozen=True)
class Alert:
    rule_id: str
    title: str
    level: str
    event_ids: list[str]
    time: str
    events: tuple[Event, ...] = ()  # in the order of event_ids

    def as_dict(self) -> dict[str, object]:
        """One JSON line: the alert, with who, where and which file from its (last) event."""
        last = self.events[-1] if self.events else None
        data: dict[str, object] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "event_ids": self.event_ids,
            "time": self.time,
        }
        for key in ("account", "region", "principal", "source_ip", "file"):
            data[key] = getattr(last, key) if last is not None else ""
        return data


@dataclass
class ScanResult:
    alerts: list[Alert]
    read: ReadReport
    failed_rules: list[Conversion]
    filters: list[FilterState]
    candidates: Candidates = field(default_factory=lambda: Candidates(None, ()))
    rules: int = 0  # rules and chains run


Progress = Callable[[int, int, int], None]  # files done, files in all, records read so far


def _worker_count(files: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, files))


# A worker's reader, set once when the worker starts (not sent with every batch of files: the
# candidate names are a sizeable object, and they remember each name's answer across files).
_worker_reader: Callable[[Path], FileRead] | None = None


def _start_worker(limits: Limits, names: EventNames | None) -> None:
    global _worker_reader
    _worker_reader = partial(read_file, limits=limits, candidates=names, keep_data=False)


def _read_in_worker(path: Path) -> FileRead:
    assert _worker_reader is not None, "a scan worker reads only after _start_worker"
    return _worker_reader(path)


@contextmanager
def _reading(files: list[Path], limits: Limits, names: EventNames | None) -> Iterator[Iterator[FileRead]]:
    """Each file's reading, in file order (so which copy of a duplicate is kept is deterministic).
    Every file is handed to the workers on entry: they read while the caller goes on (compiling the
    rules), and the results wait for it."""
    workers = _worker_count(len(files))
    if workers == 1:
        yield map(partial(read_file, limits=limits, candidates=names, keep_data=False), files)
        return
    # fork: the workers inherit the loaded modules; no DuckDB connection is open yet to inherit.
    context = (
        multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    )
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(limits, names)
    ) as pool:
        # Batches of files per round trip to a worker: fewer trips cost less, smaller batches
        # share the last files out more evenly.
        yield pool.map(
            _read_in_worker, files, chunksize=max(1, min(READ_BATCH_FILES, len(files) // (workers * 8)))
        )


# Resource ids as EC2 and RDS write them in request and response elements: what a triager follows
# from one step of a chain to the next.
_RESOURCE_ID = re.compile(
    r"\b(?:snap|vol|i|ami|sg|eni|fs|backup)-[0-9a-f]{8,17}\b"
    r'|"(?:dBSnapshotIdentifier|dBClusterSnapshotIdentifier|targetDBSnapshotIdentifier|snapshotIdentifier)"'
    r':"([^"]+)"'
)


def _resources(elements: str) -> tuple[str, ...]:
    found = [match.group(1) or match.group(0) for match in _RESOURCE_ID.finditer(elements)]
    return tuple(dict.fromkeys(found))[:6]


def _events(store: CloudTrailStore, event_ids: set[str]) -> dict[str, Event]:
    if not event_ids:
        return {}
    store.connection.execute(
        "CREATE OR REPLACE TEMP TABLE alerted AS SELECT unnest(?::VARCHAR[]) AS event_id", [sorted(event_ids)]
    )
    rows = store.stream(
        "SELECT c.event_id, c.origin, "
        "json_extract_string(c.raw, '$.eventTime') AS time, c.\"eventSource\" AS event_source, "
        'c."eventName" AS event_name, c."recipientAccountId" AS account, c."awsRegion" AS region, '
        'coalesce(c."userIdentity.arn", c."userIdentity.invokedBy", c."userIdentity.type") AS principal, '
        'c."sourceIPAddress" AS source_ip, '
        "json_extract(c.raw, '$.requestParameters')::VARCHAR || ' ' || "
        "coalesce(json_extract(c.raw, '$.responseElements')::VARCHAR, '') AS elements "
        "FROM cloudtrail c JOIN alerted USING (event_id) ORDER BY c.seq"
    )
    events: dict[str, Event] = {}
    for row in rows:
        events.setdefault(
            row["event_id"],
            Event(row["event_id"], row["time"] or "", row["event_source"] or "", row["event_name"] or "",
                  row["account"] or "", row["region"] or "", row["principal"] or "", row["source_ip"] or "",
                  row["origin"] or "", _resources(row["elements"] or "")),
        )  # fmt: skip
    return events


def scan(
    log_paths: Sequence[Path],
    rule_paths: Sequence[Path],
    config: Config | None = None,
    filter_paths: Sequence[Path] = (),
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    # The compiled plan of this content from an earlier scan (snaptrail.scan_plan), else the rules
    # are loaded here and compiled while the workers read.
    key = plan_key(rule_paths, filter_paths, config)
    plan = cached_plan(key)
    corpus: Corpus | None = None
    if plan is None:
        corpus = Corpus.load(rule_paths, filter_paths, config)
        wanted = candidates(rule for rule in corpus.collection.rules if isinstance(rule, SigmaRule))
        filters = tuple(corpus.filters)
    else:
        wanted, filters = plan.candidates, plan.filters
    read = ReadReport(limits=limits or Limits())
    files = log_files(log_paths, read)

    def records(reads: Iterator[FileRead]) -> Iterator[Record]:
        for done, file in enumerate(reads, start=1):
            batch: list[Record] = []
            read.merge(file, batch.append)
            if progress is not None:
                progress(done, len(files), read.read)
            yield from batch

    with tempfile.TemporaryDirectory(prefix="snaptrail-scan-") as work:
        store = CloudTrailStore(Path(work), STORE_MEMORY_LIMIT)
        try:
            with _reading(files, read.limits, wanted.names) as reads:
                if plan is None:  # while the workers read
                    assert corpus is not None
                    plan = ScanPlan(tuple(corpus.compiled("duckdb").values()), filters, wanted)
                    save_plan(key, plan)
                store.add_records(records(reads))
            failed = [conversion for conversion in plan.conversions if not conversion.ok]
            runs = [conversion for conversion in plan.conversions if conversion.ok]
            statements = [str(c.query) if c.chain else event_ids_sql(str(c.query)) for c in runs]
            raw_alerts: list[tuple[Conversion, list[str]]] = []
            results = store.query_all(statements, _worker_count(len(statements)))
            for conversion, result in zip(runs, results, strict=True):
                if isinstance(result, QueryFailure):  # named as a rule not run; the others' alerts stand
                    why = f"{conversion.title}: DuckDB could not run it ({result.reason})"
                    failed.append(replace(conversion, query=None, error=why))
                    continue
                raw_alerts.extend(
                    (
                        conversion,
                        [str(i) for i in row["event_ids"]] if conversion.chain else [row["event_id"]],
                    )
                    for row in result
                )
            events = _events(store, {event_id for _, ids in raw_alerts for event_id in ids})
        finally:
            store.close()
    alerts = [
        Alert(conversion.rule_id, conversion.title, conversion.level, ids,
              events[ids[-1]].time if ids[-1] in events else "",
              tuple(events[i] for i in ids if i in events))
        for conversion, ids in raw_alerts
    ]  # fmt: skip
    alerts.sort(key=lambda a: (a.time, a.rule_id, a.event_ids))
    return ScanResult(alerts, read, failed, list(filters), wanted, len(plan.conversions) - len(failed))
