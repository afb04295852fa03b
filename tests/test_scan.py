"""`snaptrail scan` over the fixture records: every positive alerts, no negative does, bad input fails."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from snaptrail.cli import main

from fixture_cases import RULES, all_cases

SHARED = "2090aec5-97c5-4adf-b4d8-a249f0c5873d"  # EBS Snapshot Shared With Another AWS Account


def _write_logfile(folder: Path) -> None:
    records = {case.event_id: case.record for case in all_cases()}
    body = json.dumps({"Records": [records[k] for k in sorted(records)]})
    (folder / "AWSLogs").mkdir()
    (folder / "AWSLogs" / "trail.json.gz").write_bytes(gzip.compress(body.encode()))


def test_scan_alerts_on_every_positive_and_no_negative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_logfile(tmp_path)
    # The rules as written (no filters): filters and allowlists have their own tests.
    assert main(["scan", str(tmp_path), "--rules", str(RULES), "--filters", "--format", "jsonl"]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fired = {(alert["rule_id"], event_id) for alert in alerts for event_id in alert["event_ids"]}
    for alert in alerts:
        assert set(alert) >= {"rule_id", "title", "level", "event_ids", "time"}
    for case in all_cases():
        assert ((case.rule_id, case.event_id) in fired) == case.expect_match, case.label


def test_scan_reports_unreadable_input_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.json").write_text('{"Records": [', encoding="utf-8")
    good = json.dumps(all_cases()[0].record)
    (tmp_path / "lines.jsonl").write_text(f"{good}\nnot json\n", encoding="utf-8")
    assert main(["scan", str(tmp_path), "--rules", str(RULES)]) == 1
    err = capsys.readouterr().err
    assert "broken.json" in err and "lines.jsonl:2" in err
    assert "1 records from 2 files" in err


def test_scan_outside_the_repository_alerts_as_inside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From an empty folder (shipped rules and filters, no snaptrail.yml: the default allowlists) the
    alerts are those of the repository's own run, AWS-service-role allowlist included."""
    from fixture_cases import REPO

    logs = tmp_path / "logs"
    logs.mkdir()
    _write_logfile(logs)
    runs = {}
    for name, folder in (("repository", REPO), ("elsewhere", tmp_path)):
        monkeypatch.chdir(folder)
        assert main(["scan", str(logs), "--format", "jsonl"]) == 0
        out, err = capsys.readouterr()
        runs[name] = (sorted(out.splitlines()), err)
    assert runs["repository"][0] == runs["elsewhere"][0]
    assert "config: snaptrail.yml" in runs["repository"][1]
    assert "config: defaults (no snaptrail.yml)" in runs["elsewhere"][1]
    # The AWS service-role filter is on both ways: a service role's snapshot does not alert.
    assert "filter off: Roles AWS services assume" not in runs["elsewhere"][1]


def test_scan_reads_a_bom_once_per_event_and_names_skipped_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A UTF-8 byte-order mark is accepted; the same record in two files (overlapping downloads)
    alerts once and is counted; a file that is no log is named, not silently left out."""
    positive = next(case for case in all_cases() if case.expect_match and case.rule_id == SHARED)
    body = json.dumps({"Records": [positive.record]})
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + body.encode())
    (tmp_path / "b.json").write_text(body, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a log", encoding="utf-8")
    assert main(["scan", str(tmp_path), "--rules", str(RULES), "--no-filters", "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    alerts = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["event_ids"] for a in alerts if a["rule_id"] == SHARED] == [[positive.event_id]]
    assert "1 duplicate records (read once)" in captured.err
    assert "notes.txt: not a log file name" in captured.err and "1 files skipped" in captured.err


@pytest.mark.parametrize("damage", ["deeply_nested", "lone_surrogate"])
def test_one_bad_record_loses_no_other_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """A record nested thousands of levels deep, or one carrying a lone surrogate escape (valid JSON,
    no Unicode text), is named as unreadable; the good file's alerts are all still there."""
    positive = next(case for case in all_cases() if case.expect_match and case.rule_id == SHARED)
    (tmp_path / "good.json").write_text(json.dumps({"Records": [positive.record]}), encoding="utf-8")
    bad = dict(positive.record, eventID="11111111-2222-4333-8444-000000000bad")
    text = json.dumps({"Records": [bad]})
    if damage == "deeply_nested":
        text = text.replace(
            '"requestParameters": ', '"requestParameters": ' + "[" * 5000 + "]" * 5000 + ', "x": '
        )
    else:
        text = text.replace('"userAgent": "', '"userAgent": "\\ud800')
    (tmp_path / "bad.json").write_text(text, encoding="utf-8")
    assert main(["scan", str(tmp_path), "--rules", str(RULES), "--no-filters", "--format", "jsonl"]) == 1
    captured = capsys.readouterr()
    alerts = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["event_ids"] for a in alerts if a["rule_id"] == SHARED] == [[positive.event_id]]
    assert "unreadable input: " in captured.err and "bad.json" in captured.err
    assert "Traceback" not in captured.err
