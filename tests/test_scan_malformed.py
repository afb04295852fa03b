"""`snaptrail scan` over good CloudTrail files mixed with every kind of damaged or odd input.

The good files hold every positive fixture record. Scanned next to the malformed corpus below, they
must raise exactly the alerts they raise alone; each bad file or record must be named with its
reason; odd but valid layouts (byte-order mark, CRLF, JSON lines, a truncated file's intact part)
must be read and alert like the records they copy; nothing may crash. One scan reads everything,
so one input that broke the reader would fail every case here.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from snaptrail.cli import main
from snaptrail.cloudtrail.records import Limits, ReadReport, read_paths
from snaptrail.commands.scan import SCAN_UNREADABLE_INPUT
from snaptrail.scan import ScanResult, scan

from fixture_cases import RULES, all_cases

LIMITS = Limits(max_record_bytes=256 * 1024, max_record_depth=64)


def _positives() -> list[dict[str, Any]]:
    records = {case.event_id: case.record for case in all_cases() if case.expect_match}
    return [records[key] for key in sorted(records)]


ORIGINALS: dict[str, str] = {}  # a copy's eventID -> the eventID of the positive it copies


def _copy(record: dict[str, Any], tag: str, **changes: Any) -> dict[str, Any]:
    """The record as another event: a new eventID, so it alerts (or not) on its own."""
    copy = json.loads(json.dumps(record))
    copy["eventID"] = f"{tag}-{record['eventID']}"
    copy.update(changes)
    ORIGINALS[copy["eventID"]] = record["eventID"]
    return copy


def _s3(records: list[Any]) -> bytes:
    # As CloudTrail writes a log file: compact, records in one array.
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bad:
    """One malformed input: how to write it, what the scan must say about it, which of its records
    are still read (copies of positives, so their alerts are expected too)."""

    name: str
    write: Callable[[Path], None]
    says: str  # in a problem or note naming this file
    readable: tuple[str, ...] = ()  # eventIDs of the records the scan still reads from it
    problem: bool = True  # unreadable input (False: a note, e.g. a file skipped on purpose)


def _corpus() -> list[Bad]:
    good = _positives()
    first, second, third = good[0], good[1], good[2]
    bads: list[Bad] = []

    def add(name: str, says: str, write: Callable[[Path], None], readable: tuple[str, ...] = (),
            problem: bool = True) -> None:  # fmt: skip
        bads.append(Bad(name, write, says, readable, problem))

    # --- gzip -------------------------------------------------------------------------------------
    a, b = _copy(first, "trunc-gz-a"), _copy(second, "trunc-gz-b")
    body = gzip.compress(
        _s3([a, b, _copy(third, "trunc-gz-c")] + [_copy(first, f"pad{i}") for i in range(40)])
    )
    # Cut inside the compressed stream, past the first records: those are recovered.
    two_thirds = body[: len(body) * 2 // 3]
    add("truncated.json.gz", "gzip file is truncated",
        lambda p, cut=two_thirds: p.write_bytes(cut), (a["eventID"], b["eventID"]))  # fmt: skip
    damaged = bytearray(gzip.compress(_s3([_copy(first, "crc")])))
    damaged[-8] ^= 0xFF  # the CRC-32 of the trailer
    add("bad-crc.json.gz", "damaged gzip data", lambda p, d=bytes(damaged): p.write_bytes(d))
    add("not-gzip.json.gz", "not gzip data", lambda p: p.write_bytes(_s3([_copy(first, "notgz")])))
    add("empty.json.gz", "empty file", lambda p: p.write_bytes(gzip.compress(b"")))
    add("empty.json", "empty file", lambda p: p.write_bytes(b""))
    # --- JSON -------------------------------------------------------------------------------------
    lines_good = _copy(second, "lines")
    add("lines.jsonl", "not valid JSON",
        lambda p: p.write_text(f"{json.dumps(lines_good)}\n{{not json\n\n", encoding="utf-8"),
        (lines_good["eventID"],))  # fmt: skip
    add("records-not-list.json", "Records is a string, expected an array",
        lambda p: p.write_text('{"Records": "none"}', encoding="utf-8"))  # fmt: skip
    survivor = _copy(third, "not-objects")
    add("records-not-objects.json", "expected a JSON object, found a number",
        lambda p: p.write_bytes(_s3([1, "x", survivor])), (survivor["eventID"],))  # fmt: skip
    cut = _copy(first, "trunc-json")
    text = _s3([cut, _copy(second, "trunc-json-lost")]).decode()
    add("truncated.json", "record cut off: the file ends inside it",
        lambda p, t=text: p.write_text(t[: len(t) - 200], encoding="utf-8"), (cut["eventID"],))  # fmt: skip
    # --- the records that aborted a whole scan ------------------------------------------------------
    deep_neighbour = _copy(second, "deep-neighbour")
    deep = _copy(first, "deep")
    deep_text = json.dumps(deep)[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    add("deep.json", "nested too deeply",
        lambda p: p.write_text('{"Records":[' + json.dumps(deep_neighbour) + "," + deep_text + "]}",
                               encoding="utf-8"), (deep_neighbour["eventID"],))  # fmt: skip
    moderately_deep = _copy(first, "depth-70", extra=json.loads("[" * 70 + "]" * 70))
    add("depth-70.json", "deeper than scan.max_record_depth (64)",
        lambda p: p.write_bytes(_s3([moderately_deep])))  # fmt: skip
    big_neighbour = _copy(third, "big-neighbour")
    big = _copy(first, "big", userAgent="A" * 400_000)
    add("big.json", "exceeds scan.max_record_bytes",
        lambda p: p.write_bytes(_s3([big, big_neighbour])), (big_neighbour["eventID"],))  # fmt: skip
    surrogate_neighbour = _copy(second, "surrogate-neighbour")
    surrogate = json.dumps(_copy(first, "surrogate", userAgent="SURROGATE")).replace("SURROGATE", "\\ud800")
    add("surrogate.json", "not valid Unicode text",
        lambda p: p.write_text('{"Records":[' + surrogate + "," + json.dumps(surrogate_neighbour) + "]}",
                               encoding="utf-8"), (surrogate_neighbour["eventID"],))  # fmt: skip
    bad_bytes_neighbour = _copy(third, "bytes-neighbour")
    add("bad-utf8.json", "not valid Unicode text",
        lambda p: p.write_bytes(_s3([_copy(first, "bytes", userAgent="XX")]).replace(b"XX", b"\xff\xfe")[:-2]
                                + b"," + json.dumps(bad_bytes_neighbour).encode() + b"]}"),
        (bad_bytes_neighbour["eventID"],))  # fmt: skip
    # --- wrong types and times ----------------------------------------------------------------------
    add("name-number.json", "eventName is a number, expected a string",
        lambda p: p.write_bytes(_s3([_copy(first, "name-number", eventName=7)])))  # fmt: skip
    # Compact as CloudTrail writes it, but the last eventName never ends: the careful reader names it.
    add("name-cut.json", "Unterminated string",
        lambda p: p.write_bytes(_s3([_copy(first, "name-cut")]).replace(b'"eventName":"', b'"eventName":"X')
                                .split(b'"eventName":"X')[0] + b'"eventName":"CreateSnapshot]}'))  # fmt: skip
    add("params-string.json", "requestParameters is a string, expected an object",
        lambda p: p.write_bytes(_s3([_copy(first, "params-string", requestParameters="{}")])))  # fmt: skip
    add("bad-time.json", "eventTime 'yesterday' is not an ISO 8601 time",
        lambda p: p.write_bytes(_s3([_copy(first, "bad-time", eventTime="yesterday")])))  # fmt: skip
    add("naive-time.json", "is not an ISO 8601 time with a time zone",
        lambda p: p.write_bytes(_s3([_copy(first, "naive", eventTime="2026-03-02T10:00:00")])))  # fmt: skip
    # --- odd but valid layouts: read, and alert ------------------------------------------------------
    bom = _copy(second, "bom")
    add("bom.json", "", lambda p: p.write_bytes(b"\xef\xbb\xbf" + _s3([bom])), (bom["eventID"],), False)
    crlf = [_copy(first, "crlf-1"), _copy(third, "crlf-2")]
    crlf_text = b"\r\n".join(json.dumps(r).encode() for r in crlf) + b"\r\n"
    add("crlf.jsonl", "", lambda p: p.write_bytes(crlf_text), tuple(r["eventID"] for r in crlf), False)
    pretty = _copy(third, "pretty")
    pretty_text = json.dumps({"Records": [pretty]}, indent=2)
    add("pretty.json", "", lambda p: p.write_text(pretty_text, encoding="utf-8"), (pretty["eventID"],), False)
    # --- files the scan does not read ---------------------------------------------------------------
    add("trail.gz", "not a log file name", lambda p: p.write_bytes(gzip.compress(_s3([_copy(first, "gz")]))),
        problem=False)  # fmt: skip
    add("notes.txt", "not a log file name", lambda p: p.write_text("hello", encoding="utf-8"), problem=False)
    digest = '{"awsAccountId": "111122223333", "digestStartTime": "x", "logFiles": []}'
    add("digest.json", "digest file", lambda p: p.write_text(digest, encoding="utf-8"), problem=False)
    return bads


BAD = _corpus()


@dataclass
class Run:
    folder: Path
    alone: ScanResult
    mixed: ScanResult
    alone_read: ReadReport  # the reader on its own, keeping every record it reads
    mixed_read: ReadReport


def _alert_keys(result: ScanResult) -> set[tuple[str, tuple[str, ...]]]:
    return {(alert.rule_id, tuple(alert.event_ids)) for alert in result.alerts}


@cache
def _run(root: Path) -> Run:
    good_dir = root / "good"
    good_dir.mkdir()
    positives = _positives()
    (good_dir / "trail.json.gz").write_bytes(gzip.compress(_s3(positives[::2])))
    (good_dir / "trail2.json").write_bytes(_s3(positives[1::2]))
    alone = scan([good_dir], [RULES], limits=LIMITS)

    mixed_dir = root / "mixed"
    (mixed_dir / "AWSLogs").mkdir(parents=True)
    for name in ("trail.json.gz", "trail2.json"):
        (mixed_dir / "AWSLogs" / name).write_bytes((good_dir / name).read_bytes())
    # The same record delivered twice: an organisation trail next to an account trail.
    (mixed_dir / "org-copy.json").write_bytes((good_dir / "trail2.json").read_bytes())
    # A symlink back to an ancestor folder: followed once, named, no record read twice.
    os.symlink("..", mixed_dir / "AWSLogs" / "loop")
    os.symlink("missing.json", mixed_dir / "dangling.json")
    for bad in BAD:
        bad.write(mixed_dir / bad.name)
    mixed = scan([mixed_dir], [RULES], limits=LIMITS)
    return Run(mixed_dir, alone, mixed, read_paths([good_dir], LIMITS), read_paths([mixed_dir], LIMITS))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("malformed"))


def _expected_alerts_for_copies(run: Run, bad: Bad) -> set[tuple[str, str]]:
    """A readable copy alerts on the rules its original alerts on."""
    rules_by_original: dict[str, set[str]] = {}
    for alert in run.alone.alerts:
        if len(alert.event_ids) == 1:
            rules_by_original.setdefault(alert.event_ids[0], set()).add(alert.rule_id)
    return {(rule, event_id) for event_id in bad.readable for rule in rules_by_original[ORIGINALS[event_id]]}


def test_the_good_files_alert_as_they_do_alone(run: Run) -> None:
    assert run.alone.alerts and not run.alone.read.problems
    # Single-event alerts of the good records, and the chains among them, are all still raised.
    good_ids = {record.data["eventID"] for record in run.alone_read.records}
    mixed_on_good = {key for key in _alert_keys(run.mixed) if set(key[1]) <= good_ids}
    assert mixed_on_good == _alert_keys(run.alone)


@pytest.mark.parametrize("bad", BAD, ids=[bad.name for bad in BAD])
def test_each_bad_input_is_named_and_its_good_records_read(run: Run, bad: Bad) -> None:
    path = str(run.folder / bad.name)
    for read in (run.mixed.read, run.mixed_read):  # the scan's streaming reader and the plain one
        problems = [str(p) for p in read.problems if p.source == path]
        notes = [note for note in read.notes if note.startswith(path)]
        said = problems if bad.problem else notes
        if bad.says:
            assert any(bad.says in line for line in said), f"{bad.name}: {problems or notes}"
        if not bad.problem:
            assert not problems, problems
    read_ids = {r.data["eventID"] for r in run.mixed_read.records if r.origin.startswith(path + ":")}
    assert read_ids == set(bad.readable)
    single = {(a.rule_id, a.event_ids[0]) for a in run.mixed.alerts if len(a.event_ids) == 1}
    mine = {(rule, event_id) for rule, event_id in single if event_id in read_ids}
    assert mine == _expected_alerts_for_copies(run, bad)


def test_duplicates_symlink_loops_and_dangling_links(run: Run) -> None:
    read = run.mixed_read
    origins = [r.data["eventID"] for r in read.records]
    assert len(origins) == len(set(origins)), "a record was read twice"
    assert read.duplicates == len(_positives()[1::2])  # org-copy.json: every record seen before
    assert run.mixed.read.duplicates == read.duplicates  # positives all are the rules' events: parsed
    assert any("symlink loop" in note for note in read.notes), read.notes
    assert any("dangling.json" in p.source and "broken symlink" in p.reason for p in read.problems)


def test_no_record_with_an_unreadable_time_reaches_an_alert(run: Run) -> None:
    alerted = {event_id for alert in run.mixed.alerts for event_id in alert.event_ids}
    assert not any(event_id.startswith(("bad-time", "naive")) for event_id in alerted)


def test_unreadable_file_permissions_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _copy(_positives()[0], "perm-ok")
    (tmp_path / "ok.json").write_bytes(_s3([good]))
    locked = tmp_path / "locked.json"
    locked.write_bytes(_s3([_copy(_positives()[0], "perm-locked")]))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads a file whatever its mode: make the read fail as it would for others
        original = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return original(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = read_paths([tmp_path], LIMITS)
    locked.chmod(0o600)
    assert [r.data["eventID"] for r in result.records] == [good["eventID"]]
    assert any(p.source == str(locked) and "Permission denied" in p.reason for p in result.problems)


def test_cli_exit_status_summary_and_report(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code = main(
        ["scan", str(run.folder), "--rules", str(RULES), "--format", "jsonl", "--report", str(report)]
    )
    captured = capsys.readouterr()
    assert code == SCAN_UNREADABLE_INPUT, captured.err
    assert "Traceback" not in captured.err
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["unreadable"] == len(data["problems"]) > 0
    assert {"file", "record", "reason"} <= set(data["problems"][0])
    assert data["duplicates"] > 0 and data["skipped_files"] >= 2
    assert data["alerts"] == len(captured.out.splitlines())
    assert f"{data['unreadable']} unreadable" in captured.err


def test_scan_limits_come_from_snaptrail_yml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = _copy(_positives()[0], "limits", userAgent="B" * 5000)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "one.json").write_bytes(_s3([record]))
    config = tmp_path / "snaptrail.yml"
    config.write_text("scan:\n  max_record_bytes: 4096\n", encoding="utf-8")
    code = main(["scan", str(tmp_path / "logs"), "--rules", str(RULES), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == SCAN_UNREADABLE_INPUT and "exceeds scan.max_record_bytes (4,096)" in err
    config.write_text("scan:\n  max_record_byte: 4096\n", encoding="utf-8")
    assert main(["scan", str(tmp_path / "logs"), "--rules", str(RULES), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "max_record_byte" in err and "Traceback" not in err
