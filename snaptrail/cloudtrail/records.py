"""Reading CloudTrail records from the forms CloudTrail and its consumers deliver them in.

Accepted: a trail's S3 log file (`{"Records": [...]}`, optionally .gz), a bare JSON array of
records, a single record, JSON lines, an EventBridge event (record in `detail`), and a
LookupEvents response (record as a string in `Events[].CloudTrailEvent`). Digest files hold
no events and are skipped with a note. Anything unreadable is reported, never dropped silently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".log", ".log.gz")


@dataclass(frozen=True)
class Record:
    origin: str  # file and position, for messages
    data: dict[str, Any]


@dataclass
class ReadReport:
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreadable input: makes `scan` exit non-zero
    notes: list[str] = field(default_factory=list)  # skipped on purpose (digest files, other suffixes)
    files: int = 0
    duplicates: int = 0  # records seen before (same eventID and recipientAccountId), read once
    skipped_files: int = 0  # files in a folder whose name is no log suffix
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def add(self, records: Iterable[Record]) -> None:
        """Keep each event once: overlapping downloads, or an organisation trail next to an account
        trail, deliver the same record twice, and it must alert once."""
        for record in records:
            try:
                # A lone surrogate escape ("\ud800", possible in user-controlled fields such as the
                # user agent) is valid JSON but no Unicode text: no engine can hold the record.
                json.dumps(record.data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as error:
                self.problems.append(f"{record.origin}: record is not valid Unicode text ({error.reason})")
                continue
            event_id = record.data.get("eventID")
            if isinstance(event_id, str):
                key = (event_id, str(record.data.get("recipientAccountId", "")))
                if key in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add(key)
            self.records.append(record)


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and "eventName" in value and "eventSource" in value


def _unwrap(value: Any, origin: str, report: ReadReport) -> Iterator[Record]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unwrap(item, f"{origin}[{index}]", report)
    elif isinstance(value, dict):
        if isinstance(value.get("Records"), list):
            yield from _unwrap(value["Records"], f"{origin}.Records", report)
        elif "digestStartTime" in value and "logFiles" in value:
            report.notes.append(f"{origin}: CloudTrail digest file (no events), skipped")
        elif isinstance(value.get("detail"), dict) and "detail-type" in value:
            yield from _unwrap(value["detail"], f"{origin}.detail", report)
        elif isinstance(value.get("Events"), list):
            for index, event in enumerate(value["Events"]):
                text = event.get("CloudTrailEvent") if isinstance(event, dict) else None
                where = f"{origin}.Events[{index}]"
                try:
                    yield from _unwrap(json.loads(text), where, report)  # type: ignore[arg-type]
                except (TypeError, ValueError) as error:
                    report.problems.append(f"{where}: CloudTrailEvent is not a JSON record ({error})")
        elif _is_record(value):
            yield Record(origin, value)
        else:
            report.problems.append(
                f"{origin}: JSON object is not a CloudTrail record (no eventSource/eventName)"
            )
    else:
        report.problems.append(f"{origin}: expected a JSON object or array, found {type(value).__name__}")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")  # a byte-order mark some editors and exporters write is not data


def _read_file(path: Path, report: ReadReport) -> None:
    report.files += 1
    try:
        text = _read_text(path)
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as error:
        report.problems.append(f"{path}: cannot read ({error})")
        return
    stripped = text.strip()
    if not stripped:
        report.problems.append(f"{path}: empty file")
        return
    try:
        value = json.loads(stripped)
    except RecursionError:
        report.problems.append(f"{path}: JSON nested too deeply to read (Python's parser limit)")
        return
    except ValueError:
        # Not one JSON document: JSON lines.
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except RecursionError:
                report.problems.append(f"{path}:{number}: JSON nested too deeply to read")
                continue
            except ValueError as error:
                report.problems.append(f"{path}:{number}: not valid JSON ({error})")
                continue
            report.add(_unwrap(value, f"{path}:{number}", report))
        return
    report.add(_unwrap(value, str(path), report))


def read_paths(paths: Iterable[Path]) -> ReadReport:
    """Read every CloudTrail record under the given files and folders (folders recursively)."""
    report = ReadReport()
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file())
            files = [p for p in found if p.name.endswith(SUFFIXES)]
            for other in (p for p in found if not p.name.endswith(SUFFIXES)):
                report.skipped_files += 1
                report.notes.append(f"{other}: not a log file name ({', '.join(SUFFIXES)}), not read")
            if not files:
                report.problems.append(f"{path}: folder holds no .json/.json.gz/.jsonl files")
            for file in files:
                _read_file(file, report)
        elif path.is_file():
            _read_file(path, report)
        else:
            report.problems.append(f"{path}: no such file or folder")
    return report
