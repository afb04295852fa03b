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

import hashlib
import json
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from isal import isal_zlib

from snaptrail.config import MAX_RECORD_BYTES, MAX_RECORD_DEPTH

if TYPE_CHECKING:  # the reader itself needs no pySigma
    from snaptrail.candidates import EventNames

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".log", ".log.gz")

# CloudTrail writes every record of a log file compactly with eventVersion first: where a record
# cannot be read, the next one starts at the next marker.
_RECORD_START = '{"eventVersion"'
_RECORD_START_BYTES = _RECORD_START.encode()
_RECORDS_START = b'{"Records":[' + _RECORD_START_BYTES
# The eventName key as CloudTrail writes it (compact: its value follows the colon).
_EVENT_NAME_KEY = b'"eventName":'
_starts_with_quote = operator.methodcaller("startswith", b'"')
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
    """A readable record: its JSON text (one line, valid UTF-8) as the engine loads it, the fields
    that identify and order it, and the parsed record itself unless the reader was asked to drop it
    (a scan's workers send only what the engine needs)."""

    origin: str  # file and position, for messages
    raw: str
    event_id: str
    recipient: str
    event_time: str
    event_source: str
    event_name: str
    data: dict[str, Any] | None = None

    @property
    def key(self) -> bytes:
        """The same event delivered twice has the same key: a digest of eventID and
        recipientAccountId (a scan holds one per record it keeps, a fifth of the size of the two
        strings)."""
        text = f"{self.event_id}\0{self.recipient}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(text, digest_size=16).digest()


@dataclass
class FileRead:
    """What one file yields: its checked records (not yet de-duplicated across files), its problems
    and notes, and how many records it holds (parsed or, skipped by the candidate pattern, not)."""

    source: str
    limits: Limits
    keep_data: bool = True
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total: int = 0

    def problem(self, reason: str, where: str = "") -> None:
        self.problems.append(Problem(self.source, reason, where))

    def add(self, where: str, value: Any, size: int | None = None, raw: str | None = None) -> None:
        """One record as found at `where`: kept if a scan can hold it, else named. `raw`: its JSON
        text as found, when that is already one line of valid UTF-8 (else it is serialised here)."""
        reason = _unusable(value, self.limits, size)
        if reason is None:
            if raw is None:
                raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            reason = self._unstorable(raw, value)
        if reason is not None:
            self.problem(reason, where)
            return
        self.total += 1
        self.records.append(
            Record(
                f"{self.source}{':' + where if where else ''}", raw, value["eventID"],  # type: ignore[arg-type]
                str(value.get("recipientAccountId") or ""), value["eventTime"], value["eventSource"],
                value["eventName"], value if self.keep_data else None,
            )
        )  # fmt: skip

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


@dataclass
class ReadReport:
    """Every file's reading, merged in file order: each record kept once (same eventID and
    recipientAccountId — overlapping downloads, or an organisation trail next to an account trail,
    deliver the same record twice, and it must alert once)."""

    records: list[Record] = field(default_factory=list)  # empty when a sink took them
    problems: list[Problem] = field(default_factory=list)  # unreadable input
    notes: list[str] = field(default_factory=list)  # skipped on purpose (digest files, other suffixes)
    files: int = 0
    read: int = 0  # records in the files read (those a scan's candidate pattern skips included)
    parsed: int = 0  # records parsed and checked (all of them without a candidate pattern)
    duplicates: int = 0  # parsed records seen before, read once
    skipped_files: int = 0  # files in a folder whose name is no log suffix
    limits: Limits = field(default_factory=Limits)
    _seen: set[bytes] = field(default_factory=set, repr=False)

    def problem(self, source: object, reason: str, where: str = "") -> None:
        self.problems.append(Problem(str(source), reason, where))

    def merge(self, file: FileRead, sink: Callable[[Record], None] | None = None) -> None:
        self.files += 1
        self.problems.extend(file.problems)
        self.notes.extend(file.notes)
        self.read += file.total
        for record in file.records:
            self.parsed += 1
            key = record.key
            if key in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(key)
            if sink is None:
                self.records.append(record)
            else:
                sink(record)

    def as_dict(self) -> dict[str, Any]:
        """The run's reading summary, machine-readable (`scan --report`)."""
        return {
            "files": self.files,
            "records": self.read,
            "parsed": self.parsed,
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


def _unwrap(value: Any, where: str, file: FileRead) -> None:
    """The records of one parsed JSON document, whatever envelope CloudTrail's consumers put them in."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _unwrap(item, f"{where}[{index}]", file)
    elif not isinstance(value, dict):
        file.problem(f"expected a JSON object or array, found {_kind(value)}", where)
    elif "Records" in value:
        if isinstance(value["Records"], list):
            _unwrap(value["Records"], f"{where}.Records".lstrip("."), file)
        else:
            file.problem(f"Records is {_kind(value['Records'])}, expected an array", where)
    elif "digestStartTime" in value and "logFiles" in value:
        file.notes.append(f"{file.source}: CloudTrail digest file (no events), skipped")
    elif isinstance(value.get("detail"), dict) and "detail-type" in value:
        _unwrap(value["detail"], f"{where}.detail".lstrip("."), file)
    elif isinstance(value.get("Events"), list):
        for index, event in enumerate(value["Events"]):
            text = event.get("CloudTrailEvent") if isinstance(event, dict) else None
            at = f"{where}.Events[{index}]".lstrip(".")
            try:
                inner = json.loads(text)  # type: ignore[arg-type]
            except (TypeError, ValueError, RecursionError) as error:
                file.problem(f"CloudTrailEvent is not a JSON record: {_json_problem(error)}", at)
                continue
            _unwrap(inner, at, file)
    elif _is_record(value):
        file.add(where, value)
    else:
        file.problem("JSON object is not a CloudTrail record (no eventSource/eventName)", where)


def _json_problem(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply to read (Python's parser stops near 1,000 levels)"
    return f"not valid JSON ({str(error).splitlines()[0][:200]})"


# ---- files ----------------------------------------------------------------------------------------


def _decompress(raw: bytes, file: FileRead) -> bytes:
    """Every byte a gzip file yields, and a problem when it is truncated or damaged: the records
    before the damage are still read. ISA-L's inflate (the zlib format, zlib's API) runs at about
    twice zlib's speed, and decompression is most of what reading a trail costs."""
    decoder = isal_zlib.decompressobj(wbits=47)  # gzip (and zlib) headers, as `gzip` writes them
    parts: list[bytes] = []
    data = raw
    try:
        while data:
            parts.append(decoder.decompress(data))
            if not decoder.eof:
                break
            data = decoder.unused_data  # a concatenated gzip member follows
            if data:
                decoder = isal_zlib.decompressobj(wbits=47)
        parts.append(decoder.flush())
    except isal_zlib.error as error:
        file.problem(f"damaged gzip data ({error}); records before the damage are read")
        return b"".join(parts)
    if not decoder.eof:
        file.problem("gzip file is truncated; records before the cut are read")
    return b"".join(parts)


def _read_bytes(path: Path, file: FileRead) -> bytes | None:
    try:
        raw = path.read_bytes()
    except OSError as error:
        file.problem(f"cannot read ({error.strerror or error})")
        return None
    if path.name.endswith(".gz"):
        if raw[:2] != b"\x1f\x8b":
            file.problem("not gzip data although the name ends in .gz")
            return None
        raw = _decompress(raw, file)
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # a byte-order mark is not data


def read_file(
    path: Path, limits: Limits, candidates: EventNames | None = None, keep_data: bool = True
) -> FileRead:
    """The records of one log file. With `candidates` (event names, snaptrail.candidates), a file as
    CloudTrail writes it is searched as bytes and only the records with one of those names are
    parsed; any other file is parsed whole."""
    file = FileRead(str(path), limits, keep_data)
    raw = _read_bytes(path, file)
    if raw is None:
        return file
    if candidates is not None and _read_candidates(raw, candidates, file):
        return file
    if not raw.strip():
        if not file.problems:  # not a damaged gzip that yielded nothing
            file.problem("empty file")
        return file
    # Undecodable bytes become lone surrogates: only the records holding them are named unreadable
    # (as not valid Unicode text).
    _read_text(raw.decode("utf-8", errors="surrogateescape"), file)
    return file


def _read_candidates(raw: bytes, names: EventNames, file: FileRead) -> bool:
    """Parse only the records of a CloudTrail-written file that some rule can match (an eventName in
    `names`, holding what that name's rules need: snaptrail.candidates); False (nothing done) when
    the file is not in that form, to be parsed whole. The form is checked, not assumed: the S3
    envelope, records compact with eventVersion first, every eventName a string (so a record with a
    mistyped eventName is never skipped unseen).

    This is the loop every byte of a trail goes through, so the bytes are walked by C, not by
    Python: one split at the eventName keys gives every record's name (a piece starts with it),
    each distinct name is judged once, and only the records of a wanted name are cut out, from the
    record start before their key to the next record start."""
    if not raw.startswith(_RECORDS_START) or not raw.rstrip().endswith(b"]}"):
        return False
    pieces = raw.split(_EVENT_NAME_KEY)
    values = pieces[1:]
    # Each piece after a key starts with that key's value: a JSON string, its name up to the next
    # quote (every piece but the last holds one: the next key's). Else the careful reader names it.
    if not all(map(_starts_with_quote, values)) or (values and values[-1].find(b'"', 1) < 0):
        return False  # an eventName that is no string, or a string cut off
    spelled = [value[1 : value.find(b'"', 1)] for value in values]
    judged = {name: names.needs_for(name) for name in set(spelled)}
    wanted = {name for name, needs in judged.items() if needs is not None}
    found = FileRead(file.source, file.limits, file.keep_data)
    hits = [index for index, name in enumerate(spelled) if name in wanted]
    if hits:
        # The i-th eventName key starts after pieces 0..i and i keys.
        ends = list(accumulate(map(len, pieces)))
        key_length = len(_EVENT_NAME_KEY)
        for index in hits:
            at = ends[index] + index * key_length
            start = raw.rfind(_RECORD_START_BYTES, 0, at)
            stop = raw.find(_RECORD_START_BYTES, at)
            if stop >= 0:
                body = raw[start:stop].rstrip(b" \t\r\n,")
            else:
                body = raw[start:].rstrip().removesuffix(b"]}").rstrip()
            where = f"Records[{index}]"
            needs = judged[spelled[index]]
            if needs:
                lowered: list[bytes] = []  # the body lower-cased, once, if a need tests values
                if not any(need.met_by(body, lowered) for need in needs):
                    continue  # none of the ways its name's rules match can hold
            if len(body) > file.limits.max_record_bytes:
                found.problem(_too_large(len(body), file.limits), where)
                continue
            try:
                # orjson refuses invalid UTF-8 and lone surrogates: the bytes are the record's text.
                value = orjson.loads(body)
            except orjson.JSONDecodeError:
                return False  # not as it looked: the careful reader names why
            found.add(where, value, len(body), body.decode("utf-8"))
    file.records, file.problems = found.records, file.problems + found.problems
    file.total = len(spelled) - len(found.problems)
    return True


def _read_text(text: str, file: FileRead) -> None:
    array = _RECORDS_ARRAY.match(text)
    if array:
        _read_array(text, array.end(), "Records", file)
        return
    start = _SPACE.match(text).end()  # type: ignore[union-attr]
    if text.startswith("[", start):
        _read_array(text, start + 1, "", file)
        return
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError) as error:
        if isinstance(error, RecursionError) or "\n" not in text.strip():
            file.problem(_json_problem(error))
            return
        value, end = None, -1
    if end >= 0 and not text[end:].strip():
        _unwrap(value, "", file)
        return
    _read_lines(text, file)  # not one JSON document: JSON lines


_DECODER = json.JSONDecoder()


def _read_lines(text: str, file: FileRead) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = str(number)  # file:line, as editors and grep write it
        if len(line) > file.limits.max_record_bytes:
            file.problem(_too_large(len(line), file.limits), where)
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as error:
            file.problem(_json_problem(error), where)
            continue
        _unwrap(value, where, file)


def _read_array(text: str, position: int, name: str, file: FileRead) -> None:
    """The elements of a JSON array one at a time, from `position` (just after its `[`), so that a
    damaged or oversized element costs only itself: the reader resumes at the next record."""
    limit = file.limits.max_record_bytes
    index = 0
    end_of_text = len(text)
    while True:
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if position >= end_of_text:
            file.problem(f"file ends inside the {name or 'JSON'} array (truncated?)")
            return
        if text[position] == "]":
            return
        where = f"{name}[{index}]"
        if text.startswith(_RECORD_START, position):
            following = text.find(_RECORD_START, position + 1)
            span = (following if following >= 0 else end_of_text) - position
            if span > limit + 64:
                # Oversized: not parsed at all, so its size costs no memory beyond the file's text.
                file.problem(_too_large(span, file.limits), where)
                if following < 0:
                    return
                position, index = following, index + 1
                continue
        try:
            value, end = _DECODER.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            following = text.find(_RECORD_START, position + 1)
            if following < 0 and not text.rstrip().endswith("]" if not name else "}"):
                file.problem("record cut off: the file ends inside it (truncated)", where)
                return
            file.problem(_json_problem(error), where)
            if following < 0:
                return
            position, index = following, index + 1
            continue
        if isinstance(value, dict) and "eventName" not in value and name == "":
            _unwrap(value, where, file)  # an array of envelopes (e.g. EventBridge events)
        elif isinstance(value, list):
            _unwrap(value, where, file)
        else:
            file.add(where, value, end - position)
        index += 1
        position = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if position < end_of_text and text[position] == ",":
            position += 1
        elif position < end_of_text and text[position] != "]":
            file.problem(f"unexpected {text[position]!r} after a record", f"{name}[{index - 1}]")
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


def log_files(paths: Iterable[Path], report: ReadReport) -> list[Path]:
    """Every log file under the given files and folders (folders recursively), each once however
    many paths or symlinks lead to it; what is not read is noted or named in the report."""
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def once(file: Path) -> None:
        try:
            stat = file.stat()
        except OSError as error:
            report.problem(file, f"cannot read ({error.strerror or error})")
            return
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            report.notes.append(f"{file}: same file as one already read (symlink or repeated path), skipped")
            return
        seen.add(key)
        files.append(file)

    for path in paths:
        if path.is_dir():
            found = list(_files_under(path, report))
            logs = [p for p in found if p.name.endswith(SUFFIXES)]
            for other in (p for p in found if not p.name.endswith(SUFFIXES)):
                report.skipped_files += 1
                report.notes.append(f"{other}: not a log file name ({', '.join(SUFFIXES)}), not read")
            if not logs:
                report.problem(path, "folder holds no .json/.json.gz/.jsonl files")
            for file in logs:
                once(file)
        elif path.is_file():
            once(path)
        elif path.is_symlink():
            report.problem(path, "broken symlink (its target does not exist)")
        else:
            report.problem(path, "no such file or folder")
    return files


def read_paths(paths: Iterable[Path], limits: Limits | None = None) -> ReadReport:
    """Every CloudTrail record under the given files and folders, parsed and kept (for tests and
    small reads; `snaptrail scan` streams through snaptrail.scan instead)."""
    report = ReadReport(limits=limits or Limits())
    for file in log_files(paths, report):
        report.merge(read_file(file, report.limits))
    return report
