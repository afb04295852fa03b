"""Every command on every kind of bad rule or config: one line naming the file, a non-zero exit, never
a traceback (issue: fail loudly, lose nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from snaptrail.cli import main

GOOD_HEAD = """title: {title}
id: {id}
status: test
description: a rule for this test
logsource: {{product: aws, service: cloudtrail}}
"""
BAD_RULES = {
    "unknown_modifier": "detection:\n  sel:\n    eventName|contians: CreateSnapshot\n  condition: sel\n"
    "level: low\n",
    "misspelt_condition": "detection:\n  selection:\n    eventName: CreateSnapshot\n  condition: selektion\n"
    "level: low\n",
    "not_yaml": "detection: [unclosed\n",
    "unknown_field": "detection:\n  sel:\n    requestParameters.nothingHere: x\n  condition: sel\n"
    "level: low\n",
    "bad_level": "detection:\n  sel:\n    eventName: CreateSnapshot\n  condition: sel\nlevel: severe\n",
}
BAD_CONFIG = "splunk:\n  cron_schedul: '*/10 * * * *'\n"
COMMANDS = {
    "check": lambda rule, config: ["check", "--rules", str(rule), "--config", str(config)],
    "build": lambda rule, config: ["build", "--rules", str(rule), "--config", str(config), "--out",
                                   str(rule.parent / "dist")],
    "convert": lambda rule, config: ["convert", "-t", "sentinel", str(rule), "--config", str(config)],
    "test": lambda rule, config: ["test", "--rules", str(rule), "--config", str(config), "-t", "duckdb"],
    "scan": lambda rule, config: ["scan", str(rule.parent), "--rules", str(rule), "--config", str(config)],
}  # fmt: skip


def _rule(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yml"
    head = GOOD_HEAD.format(title=name.replace("_", " "), id="6f1d3c2a-1111-4222-8333-444455556666")
    path.write_text(head + BAD_RULES[name], encoding="utf-8")
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.err + captured.out  # check writes its issues to stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("bad", sorted(BAD_RULES))
def test_bad_rule_is_named_and_fails(tmp_path: Path, bad: str, command: str, capsys) -> None:  # type: ignore[no-untyped-def]
    rule = _rule(tmp_path, bad)
    config = tmp_path / "snaptrail.yml"
    config.write_text("{}\n", encoding="utf-8")
    code, err = _run(COMMANDS[command](rule, config), capsys)
    assert code != 0, f"{command} accepted {bad}:\n{err}"
    assert "Traceback" not in err
    assert rule.name in err, f"{command} did not name {rule.name}:\n{err}"
    if command == "build":
        assert not (tmp_path / "dist").exists()
    if bad == "misspelt_condition" and command in ("check", "convert", "build"):
        assert "did you mean 'selection'" in err, err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, command: str, capsys) -> None:  # type: ignore[no-untyped-def]
    rule = tmp_path / "ok.yml"
    rule.write_text(
        GOOD_HEAD.format(title="ok", id="6f1d3c2a-1111-4222-8333-444455557777")
        + "detection:\n  sel:\n    eventName: CreateSnapshot\n  failed:\n    errorCode|exists: true\n"
        "  condition: sel and not failed\nlevel: low\n",
        encoding="utf-8",
    )
    config = tmp_path / "bad.yml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    code, err = _run(COMMANDS[command](rule, config), capsys)
    assert code != 0
    lines = [line for line in err.splitlines() if "bad.yml" in line]
    assert len(lines) == 1 and "splunk.cron_schedul" in lines[0] and "cron_schedule" in lines[0], err
    assert "Traceback" not in err


def test_duplicate_title_fails_build_and_check_naming_both_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    body = "detection:\n  sel:\n    eventName: CreateSnapshot\n  failed:\n    errorCode|exists: true\n" \
        "  condition: sel and not failed\nlevel: low\n"  # fmt: skip
    for name, rule_id in (
        ("a", "6f1d3c2a-1111-4222-8333-44445555aaaa"),
        ("b", "6f1d3c2a-1111-4222-8333-44445555bbbb"),
    ):
        (tmp_path / f"{name}.yml").write_text(GOOD_HEAD.format(title="Same Title", id=rule_id) + body)
    rules = ["--rules", str(tmp_path / "a.yml"), "--rules", str(tmp_path / "b.yml")]
    code, err = _run(["build", *rules, "--out", str(tmp_path / "dist")], capsys)
    assert code != 0 and "Traceback" not in err and "a.yml" in err and "b.yml" in err
    assert not (tmp_path / "dist").exists()
    code, err = _run(["check", *rules], capsys)
    assert code != 0


BAD_RECORDS = {
    "not_json": "{not json",
    "truncated": '{"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": "Disable',
    "wrong_type": '{"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": 7}',
}
# Commands that read CloudTrail records: from fixtures (check, test) or from logs (scan).
RECORD_COMMANDS = {
    "check": lambda rule, fixtures, logs: ["check", "--rules", str(rule), "--fixtures", str(fixtures)],
    "test": lambda rule, fixtures, logs: ["test", "--rules", str(rule), "--fixtures", str(fixtures),
                                          "-t", "duckdb"],
    "scan": lambda rule, fixtures, logs: ["scan", str(logs), "--rules", str(rule)],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(RECORD_COMMANDS))
@pytest.mark.parametrize("bad", sorted(BAD_RECORDS))
def test_bad_record_is_named_and_fails(tmp_path: Path, bad: str, command: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """A CloudTrail record that cannot be read, as a rule's fixture or in a log: the command names the
    file and exits non-zero, without a traceback."""
    rule = tmp_path / "rule.yml"
    rule.write_text(
        GOOD_HEAD.format(title="ok", id="6f1d3c2a-1111-4222-8333-44445555cccc")
        + "detection:\n  sel:\n    eventName: CreateSnapshot\n  failed:\n    errorCode|exists: true\n"
        "  condition: sel and not failed\nlevel: low\n",
        encoding="utf-8",
    )
    fixtures = tmp_path / "fixtures" / "rule"
    fixtures.mkdir(parents=True)
    (fixtures / f"{bad}.json").write_text(BAD_RECORDS[bad], encoding="utf-8")
    (fixtures / "cases.yml").write_text(
        f"rule_id: 6f1d3c2a-1111-4222-8333-44445555cccc\ncases:\n  - record: {bad}.json\n    expect: match\n"
        "    note: a record that cannot be read\n    shape: api\n",
        encoding="utf-8",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{bad}.json").write_text(BAD_RECORDS[bad], encoding="utf-8")
    code, err = _run(RECORD_COMMANDS[command](rule, tmp_path / "fixtures", logs), capsys)
    assert code != 0, f"{command} accepted {bad}:\n{err}"
    assert "Traceback" not in err
    assert f"{bad}.json" in err, f"{command} did not name {bad}.json:\n{err}"
