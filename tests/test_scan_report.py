"""What `snaptrail scan` tells a responder: JSON lines with who and where, --min-level, --fail-on, the
per-rule summary, and the HTML report with each chain drawn as a timeline (read in headless Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_docs import _chromium_dom

from snaptrail.cli import main
from snaptrail.commands.scan import SCAN_ALERT_AT_FAIL_LEVEL

from fixture_cases import RULES, chain_cases_for

MOUNT_CHAIN = "ef6c4a72-dff7-455b-a8b2-a95cecb4219e"  # the four-step mount chain


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, ...]]:
    """A trail holding a positive case of the four-step mount chain, and the alert it must raise."""
    case = next(c for c in chain_cases_for(MOUNT_CHAIN) if c.expect)
    folder = tmp_path_factory.mktemp("trail")
    (folder / "trail.json").write_text(json.dumps({"Records": case.records}), encoding="utf-8")
    return folder, case.expect[0]


def _scan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["scan", *argv, "--rules", str(RULES)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lines_carry_account_region_principal_source_ip_and_file(
    trail: tuple[Path, tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, chain = trail
    code, out, err = _scan(capsys, str(folder), "--format", "jsonl")
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    mount = next(a for a in alerts if a["rule_id"] == MOUNT_CHAIN)
    assert tuple(mount["event_ids"]) == chain
    assert re.fullmatch(r"\d{12}", mount["account"]) and mount["region"] and mount["source_ip"]
    assert mount["principal"].startswith("arn:aws:")
    assert mount["file"].startswith(str(folder / "trail.json") + ":Records[")
    # The per-rule summary on stderr names the chain with its count.
    assert re.search(r"scan:\s+1\s+critical\s+Snapshot Mount Chain Of Four Steps", err), err


def test_min_level_and_fail_on(
    trail: tuple[Path, tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = trail
    _, everything, _ = _scan(capsys, str(folder), "--format", "jsonl")
    levels = [json.loads(line)["level"] for line in everything.splitlines()]
    assert "critical" in levels and any(level in ("informational", "low") for level in levels)
    code, out, err = _scan(capsys, str(folder), "--format", "jsonl", "--min-level", "critical")
    assert {json.loads(line)["level"] for line in out.splitlines()} == {"critical"}
    assert f"({len(levels) - levels.count('critical')} below --min-level left out)" in err
    assert code == 0
    code, _, _ = _scan(capsys, str(folder), "--format", "jsonl", "--fail-on", "high")
    assert code == SCAN_ALERT_AT_FAIL_LEVEL
    no_logs = folder.parent / "quiet"
    no_logs.mkdir(exist_ok=True)
    (no_logs / "empty.json").write_text('{"Records": []}', encoding="utf-8")
    code, _, _ = _scan(capsys, str(no_logs), "--fail-on", "low")
    assert code == 0


def test_html_report_draws_the_mount_chain_as_a_timeline(
    trail: tuple[Path, tuple[str, ...]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, chain = trail
    (folder / "notes.txt").write_text("not a log", encoding="utf-8")
    broken = folder.parent / "broken.json"
    broken.write_text('{"Records": [{"eventVersion": "1.09", "eventName": 7}]}', encoding="utf-8")
    code, html, err = _scan(capsys, str(folder), str(broken), "--format", "html")
    assert code == 1, err  # the broken file is unreadable input
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    assert "<script" not in html and "<link" not in html  # self-contained
    (dom,) = _chromium_dom([page.resolve().as_uri()])
    article = re.search(r'<article class="chain chain-critical"[^>]*>(.*?)</article>', dom, re.S)
    assert article and "Snapshot Mount Chain Of Four Steps" in article.group(1)
    steps = re.findall(r'<li class="step" data-event-id="([^"]+)">(.*?)</li>', article.group(1), re.S)
    assert tuple(event_id for event_id, _ in steps) == chain
    what = [re.search(r'<span class="what">(\w+)</span>', body) for _, body in steps]
    names = [match.group(1) for match in what if match]
    assert names[:3] == ["CreateSnapshot", "CreateVolume", "AttachVolume"]
    assert all('class="who">arn:aws:' in body for _, body in steps)
    assert "snap-" in steps[0][1] and "vol-" in steps[2][1]  # which resource each step touched
    problems = re.search(r'<section id="problems">(.*?)</section>', dom, re.S)
    assert problems and "broken.json" in problems.group(1)
    assert "record has no eventSource" in problems.group(1)
    assert 'id="filters"' in dom and 'id="summary"' in dom
