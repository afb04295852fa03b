"""Reading CloudTrail records from the forms CloudTrail and its consumers deliver them in.

Accepted: a trail's S3 log file (`{"Records": [...]}`, optionally .gz), a bare JSON array of
records, a single record, JSON lines, an EventBridge event (record in `detail`), and a
LookupEvents response (record as a string in `Events[].CloudTrailEvent`). Digest files hold
no events and are skipped with a note.

Nothing is lost silently and nothing unreadable is fatal: a damaged file, or one damaged record
inside a file, is one `Problem` (file, record, reason) and every other record is still read. A
truncated gzip or JSON document keeps the records before the damage; a record past the size or
nesting limits (`scan:` in snaptrail.yml), with a lone surrogate, or with a field of the wrong type
is left out and named. Each record is kept once (same eventID and recipientAccountId), and each file
once however many symlinks lead to it.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from snaptrail.config import MAX_RECORD_BYTES, MAX_RECORD_DEPTH

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".log", ".log.gz")

# CloudTrail writes every record of a log file compactly with eventVersion first: where a record
# cannot be read, the next one starts at the next marker.
_RECORD_START = '{"eventVersion"'
_RECORDS_ARRAY = re.compile(r'\s*\{\s*"Records"\s*:\s*\[')
_SPACE = re.compile(r"\s*")

# The fields rules and chains read, and the JSON types CloudTrail gives them. A record where one has
# another type is not CloudTrail as CloudTrail writes it: a rule would silently not match it.
_TEXT_FIELDS = ("eventSource", "eventName", "eventID")
_OPTIONAL_TEXT_FIELDS = ("awsRegion", "sourceIPAddress", "userAgent", "recipientAccountId", "errorCode",
                         "eventType", "eventCategory")  # fmt: skip
_OBJECT_FIELDS = ("userIdentity", "requestParameters", "responseElements", "additionalEventData",
                  "serviceEventDetails", "tlsDetails")  # fmt: skip


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = MAX_RECORD_BYTES
    max_record_depth: int = MAX_RECORD_DEPTH


@dataclass(frozen=True)
class Problem:
    """Input that could not be read: a file, or one record of it (`where`: "Records[3]", or a line
    number in JSON lines)."""

    source: str
    reason: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.source}{':' + self.where if self.where else ''}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.source, "record": self.where, "reason": self.reason}


@dataclass(frozen=True)
class Record:
    origin: str  # file and position, for messages
    data: dict[str, Any]
    raw: str  # the record as one line of JSON (UTF-8 safe), as the engine loads it


@dataclass
class ReadReport:
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # unreadable input: `scan` exits with 4
    notes: list[str] = field(default_factory=list)  # skipped on purpose (digest files, other suffixes)
    files: int = 0
    duplicates: int = 0  # records seen before (same eventID and recipientAccountId), read once
    skipped_files: int = 0  # files in a folder whose name is no log suffix
    limits: Limits = field(default_factory=Limits)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def problem(self, source: object, reason: str, where: str = "") -> None:
        self.problems.append(Problem(str(source), reason, where))

    def as_dict(self) -> dict[str, Any]:
        """The run's reading summary, machine-readable (`scan --report`)."""
        return {
            "files": self.files,
            "records": len(self.records),
            "unreadable": len(self.problems),
            "duplicates": self.duplicates,
            "skipped_files": self.skipped_files,
            "limits": {
                "max_record_bytes": self.limits.max_record_bytes,
                "max_record_depth": self.limits.max_record_depth,
            },
            "problems": [problem.as_dict() for problem in self.problems],
            "notes": list(self.notes),
        }

    def add(self, source: str, where: str, value: Any, size: int | None = None) -> None:
        """One record as found at `where` in `source`: checked, then kept once. Overlapping
        downloads, or an organisation trail next to an account trail, deliver the same record twice,
        and it must alert once."""
        reason = _unusable(value, self.limits, size)
        raw = ""
        if reason is None:
            raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            reason = self._unstorable(raw, value)
        if reason is not None:
            self.problem(source, reason, where)
            return
        key = (value["eventID"], str(value.get("recipientAccountId", "")))
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(key)
        self.records.append(Record(f"{source}{':' + where if where else ''}", value, raw))

    def _unstorable(self, raw: str, value: dict[str, Any]) -> str | None:
        """Why a record's JSON text cannot be scanned, or None."""
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate escape ("\ud800", possible in user-controlled fields such as the user
            # agent) is valid JSON but no Unicode text: no engine can hold the record.
            return "record is not valid Unicode text (a lone surrogate escape, or bytes that are not UTF-8)"
        if size > self.limits.max_record_bytes:
            return _too_large(size, self.limits)
        # Every level of nesting opens a bracket: with fewer brackets than the limit (nearly every
        # record), the nesting need not be measured.
        if raw.count("{") + raw.count("[") > self.limits.max_record_depth:
            if _depth(value) > self.limits.max_record_depth:
                return f"record nests deeper than scan.max_record_depth ({self.limits.max_record_depth})"
        return None


def _too_large(size: int, limits: Limits) -> str:
    return f"record of {size:,} bytes exceeds scan.max_record_bytes ({limits.max_record_bytes:,})"


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
    return deepest


def _unusable(value: Any, limits: Limits, size: int | None) -> str | None:
    """Why a record cannot be scanned, or None. Checks the fields rules and chains read."""
    if not isinstance(value, dict):
        return f"expected a JSON object, found {_kind(value)}"
    if size is not None and size > limits.max_record_bytes:
        return _too_large(size, limits)
    for name in _TEXT_FIELDS:
        if name not in value:
            return f"record has no {name}"
        if not isinstance(value[name], str):
            return f"{name} is {_kind(value[name])}, expected a string"
    for name in _OPTIONAL_TEXT_FIELDS:
        if value.get(name) is not None and not isinstance(value[name], str):
            return f"{name} is {_kind(value[name])}, expected a string"
    for name in _OBJECT_FIELDS:
        if value.get(name) is not None and not isinstance(value[name], dict):
            return f"{name} is {_kind(value[name])}, expected an object"
    if value.get("resources") is not None and not isinstance(value["resources"], list):
        return f"resources is {_kind(value['resources'])}, expected an array"
    when = value.get("eventTime")
    if not isinstance(when, str):
        return "record has no eventTime" if when is None else f"eventTime is {_kind(when)}, expected a time"
    try:
        parsed = datetime.fromisoformat(when)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        # Chains order events by time: a record without a readable UTC time cannot take part.
        return f"eventTime {when[:40]!r} is not an ISO 8601 time with a time zone"
    return None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and "eventName" in value and "eventSource" in value


def _unwrap(value: Any, source: str, where: str, report: ReadReport) -> None:
    """The records of one parsed JSON document, whatever envelope CloudTrail's consumers put them in."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _unwrap(item, source, f"{where}[{index}]", report)
    elif not isinstance(value, dict):
        report.problem(source, f"expected a JSON object or array, found {_kind(value)}", where)
    elif "Records" in value:
        if isinstance(value["Records"], list):
            _unwrap(value["Records"], source, f"{where}.Records".lstrip("."), report)
        else:
            report.problem(source, f"Records is {_kind(value['Records'])}, expected an array", where)
    elif "digestStartTime" in value and "logFiles" in value:
        report.notes.append(f"{source}: CloudTrail digest file (no events), skipped")
    elif isinstance(value.get("detail"), dict) and "detail-type" in value:
        _unwrap(value["detail"], source, f"{where}.detail".lstrip("."), report)
    elif isinstance(value.get("Events"), list):
        for index, event in enumerate(value["Events"]):
            text = event.get("CloudTrailEvent") if isinstance(event, dict) else None
            at = f"{where}.Events[{index}]".lstrip(".")
            try:
                inner = json.loads(text)  # type: ignore[arg-type]
            except (TypeError, ValueError, RecursionError) as error:
                report.problem(source, f"CloudTrailEvent is not a JSON record: {_json_problem(error)}", at)
                continue
            _unwrap(inner, source, at, report)
    elif _is_record(value):
        report.add(source, where, value)
    else:
        report.problem(source, "JSON object is not a CloudTrail record (no eventSource/eventName)", where)


def _json_problem(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply to read (Python's parser stops near 1,000 levels)"
    return f"not valid JSON ({str(error).splitlines()[0][:200]})"


# ---- files ----------------------------------------------------------------------------------------


def _decompress(raw: bytes, source: Path, report: ReadReport) -> bytes:
    """Every byte a gzip file yields, and a problem when it is truncated or damaged: the records
    before the damage are still read."""
    decoder = zlib.decompressobj(wbits=47)  # gzip (and zlib) headers, as `gzip` writes them
    parts: list[bytes] = []
    data = raw
    try:
        while data:
            parts.append(decoder.decompress(data))
            if not decoder.eof:
                break
            data = decoder.unused_data  # a concatenated gzip member follows
            if data:
                decoder = zlib.decompressobj(wbits=47)
        parts.append(decoder.flush())
    except zlib.error as error:
        report.problem(source, f"damaged gzip data ({error}); records before the damage are read")
        return b"".join(parts)
    if not decoder.eof:
        report.problem(source, "gzip file is truncated; records before the cut are read")
    return b"".join(parts)


def _read_text(path: Path, report: ReadReport) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError as error:
        report.problem(path, f"cannot read ({error.strerror or error})")
        return None
    if path.name.endswith(".gz"):
        if raw[:2] != b"\x1f\x8b":
            report.problem(path, "not gzip data although the name ends in .gz")
            return None
        raw = _decompress(raw, path, report)
    # Undecodable bytes become lone surrogates: only the records holding them are named unreadable
    # (as not valid Unicode text). A byte-order mark some editors and exporters write is not data.
    text = raw.decode("utf-8", errors="surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def _read_file(path: Path, report: ReadReport) -> None:
    report.files += 1
    problems_before = len(report.problems)
    text = _read_text(path, report)
    if text is None:
        return
    source = str(path)
    if not text.strip():
        if len(report.problems) == problems_before:  # not a damaged gzip that yielded nothing
            report.problem(path, "empty file")
        return
    array = _RECORDS_ARRAY.match(text)
    if array:
        _read_array(text, array.end(), source, "Records", report)
        return
    start = _SPACE.match(text).end()  # type: ignore[union-attr]
    if text.startswith("[", start):
        _read_array(text, start + 1, source, "", report)
        return
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError) as error:
        if isinstance(error, RecursionError) or "\n" not in text.strip():
            report.problem(path, _json_problem(error))
            return
        value, end = None, -1
    if end >= 0 and not text[end:].strip():
        _unwrap(value, source, "", report)
        return
    _read_lines(text, source, report)  # not one JSON document: JSON lines


_DECODER = json.JSONDecoder()


def _read_lines(text: str, source: str, report: ReadReport) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = str(number)  # file:line, as editors and grep write it
        if len(line) > report.limits.max_record_bytes:
            report.problem(source, _too_large(len(line), report.limits), where)
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as error:
            report.problem(source, _json_problem(error), where)
            continue
        _unwrap(value, source, where, report)


def _read_array(text: str, position: int, source: str, name: str, report: ReadReport) -> None:
    """The elements of a JSON array one at a time, from `position` (just after its `[`), so that a
    damaged or oversized element costs only itself: the reader resumes at the next record."""
    limit = report.limits.max_record_bytes
    index = 0
    end_of_text = len(text)
    while True:
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if position >= end_of_text:
            report.problem(source, f"file ends inside the {name or 'JSON'} array (truncated?)")
            return
        if text[position] == "]":
            return
        where = f"{name}[{index}]"
        if text.startswith(_RECORD_START, position):
            following = text.find(_RECORD_START, position + 1)
            span = (following if following >= 0 else end_of_text) - position
            if span > limit + 64:
                # Oversized: not parsed at all, so its size costs no memory beyond the file's text.
                report.problem(source, _too_large(span, report.limits), where)
                if following < 0:
                    return
                position, index = following, index + 1
                continue
        try:
            value, end = _DECODER.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            following = text.find(_RECORD_START, position + 1)
            if following < 0 and not text.rstrip().endswith("]" if not name else "}"):
                report.problem(source, "record cut off: the file ends inside it (truncated)", where)
                return
            report.problem(source, _json_problem(error), where)
            if following < 0:
                return
            position, index = following, index + 1
            continue
        if isinstance(value, dict) and "eventName" not in value and name == "":
            _unwrap(value, source, where, report)  # an array of envelopes (e.g. EventBridge events)
        elif isinstance(value, list):
            _unwrap(value, source, where, report)
        else:
            report.add(source, where, value, end - position)
        index += 1
        position = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if position < end_of_text and text[position] == ",":
            position += 1
        elif position < end_of_text and text[position] != "]":
            report.problem(source, f"unexpected {text[position]!r} after a record", f"{name}[{index - 1}]")
            following = text.find(_RECORD_START, position)
            if following < 0:
                return
            position = following


# ---- folders --------------------------------------------------------------------------------------


def _files_under(folder: Path, report: ReadReport) -> Iterator[Path]:
    """Files under a folder, following symlinks once: a link back to a folder already walked (a loop)
    is named and not entered again."""
    visited: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            stat = directory.stat()
        except OSError as error:
            report.problem(directory, f"cannot read folder ({error.strerror or error})")
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in visited:
            report.notes.append(f"{directory}: symlink loop (folder already read), not followed again")
            continue
        visited.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            report.problem(directory, f"cannot read folder ({error.strerror or error})")
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks
                is_file = entry.is_file()
            except OSError as error:
                report.problem(path, f"cannot read ({error.strerror or error})")
                continue
            if is_dir:
                subfolders.append(path)
            elif is_file:
                yield path
            elif entry.is_symlink():
                report.problem(path, "broken symlink (its target does not exist)")
        pending.extend(reversed(subfolders))


def read_paths(paths: Iterable[Path], limits: Limits | None = None) -> ReadReport:
    """Read every CloudTrail record under the given files and folders (folders recursively)."""
    report = ReadReport(limits=limits or Limits())
    read: set[tuple[int, int]] = set()

    def read_once(file: Path) -> None:
        try:
            stat = file.stat()
        except OSError as error:
            report.problem(file, f"cannot read ({error.strerror or error})")
            return
        key = (stat.st_dev, stat.st_ino)
        if key in read:
            report.notes.append(f"{file}: same file as one already read (symlink or repeated path), skipped")
            return
        read.add(key)
        _read_file(file, report)

    for path in paths:
        if path.is_dir():
            found = list(_files_under(path, report))
            files = [p for p in found if p.name.endswith(SUFFIXES)]
            for other in (p for p in found if not p.name.endswith(SUFFIXES)):
                report.skipped_files += 1
                report.notes.append(f"{other}: not a log file name ({', '.join(SUFFIXES)}), not read")
            if not files:
                report.problem(path, "folder holds no .json/.json.gz/.jsonl files")
            for file in files:
                read_once(file)
        elif path.is_file():
            read_once(path)
        elif path.is_symlink():
            report.problem(path, "broken symlink (its target does not exist)")
        else:
            report.problem(path, "no such file or folder")
    return report
