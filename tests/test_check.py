"""`snaptrail check` passes on the corpus and fails, precisely, on a rule that breaks each check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from snaptrail.cli import main

from fixture_cases import FIXTURES, RULES

GOOD_RULE = RULES / "ebs" / "ebs_snapshot_made_public.yml"
GOOD_FIXTURES = FIXTURES / "rules" / "ebs" / "ebs_snapshot_made_public"


def test_corpus_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--rules", str(RULES), "--fixtures", str(FIXTURES)])
    out = capsys.readouterr()
    assert code == 0, out.out
    assert "0 issues" in out.err


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of one good rule with its fixtures (records it borrows from siblings copied flat)."""
    rules = tmp_path / "rules"
    fixtures = tmp_path / "fixtures" / "made_public"
    rules.mkdir()
    fixtures.mkdir(parents=True)
    shutil.copy(GOOD_RULE, rules / GOOD_RULE.name)
    cases = yaml.safe_load((GOOD_FIXTURES / "cases.yml").read_text(encoding="utf-8"))
    for entry in cases["cases"]:
        source = (GOOD_FIXTURES / entry["record"]).resolve()
        entry["record"] = source.name
        shutil.copy(source, fixtures / source.name)
    (fixtures / "cases.yml").write_text(yaml.safe_dump(cases), encoding="utf-8")
    return rules, tmp_path / "fixtures"


def run_check(
    rules: Path, fixtures: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    code = main(["check", "--rules", str(rules), "--fixtures", str(fixtures), *extra])
    return code, capsys.readouterr().out


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_workspace_copy_is_clean(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(*workspace, capsys) == (0, "")


BREAKS = [
    (
        "required-metadata",
        "falsepositives:\n  - Deliberately",
        "falsepositive:\n  - Deliberately",
        "missing 'falsepositives'",
    ),
    ("attack-tags", "attack.t1537", "attack.t9999", "attack.t9999 is not a technique in ATT&CK 18.1"),
    ("attack-tags", "  - attack.exfiltration\n", "", "attack.t1537 belongs to tactic(s) ['exfiltration']"),
    (
        "value",
        "attributeType|cased: CREATE_VOLUME_PERMISSION",
        "attributeType|cased: createVolumePermission",
        "'createVolumePermission' is not a value CloudTrail writes in requestParameters.attributeType",
    ),
    (
        "field",
        "createVolumePermission.add.items.group",
        "launchPermission.add.items.group",
        "field 'requestParameters.launchPermission.add.items.group' is not a CloudTrail path of "
        "ec2.amazonaws.com ModifySnapshotAttribute",
    ),
    (
        "successful-calls",
        "  failed:\n    errorCode|exists: true\n  condition: selection and not failed",
        "  condition: selection",
        "does not exclude failed calls",
    ),
    ("level", "level: critical", "level: severe", "level must be one of"),
]


@pytest.mark.parametrize(
    ("check", "old", "new", "message"), BREAKS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BREAKS)]
)
def test_each_check_fails_precisely(
    workspace: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    check: str,
    old: str,
    new: str,
    message: str,
) -> None:
    rules, fixtures = workspace
    rule_file = rules / GOOD_RULE.name
    edit(rule_file, old, new)
    code, out = run_check(rules, fixtures, capsys)
    assert code == 1
    lines = [line for line in out.splitlines() if f"[{check}]" in line]
    assert lines, out
    assert any(message in line for line in lines), lines
    assert all(
        line.startswith(f"{rule_file}:") and "rule 'EBS Snapshot Made Public'" in line for line in lines
    )
    if check == "value":  # the line number points at the offending value
        line_number = int(lines[0].split(":")[1])
        assert "createVolumePermission" in rule_file.read_text().splitlines()[line_number - 1]
        assert "CloudTrail writes 'CREATE_VOLUME_PERMISSION', case-exact" in lines[0]


def test_duplicate_id(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rules, fixtures = workspace
    copy = rules / "copy.yml"
    shutil.copy(rules / GOOD_RULE.name, copy)
    edit(copy, "title: EBS Snapshot Made Public", "title: EBS Snapshot Made Public Again")
    code, out = run_check(rules, fixtures, capsys)
    assert code == 1
    assert "[unique-id] id e6860c18-e141-4ba7-9b4f-1c0ae689acfc is also used by" in out


@pytest.mark.parametrize("drop", ["match", "no_match"])
def test_missing_fixture_kind(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], drop: str
) -> None:
    rules, fixtures = workspace
    cases_file = fixtures / "made_public" / "cases.yml"
    cases = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
    cases["cases"] = [case for case in cases["cases"] if case["expect"] != drop]
    cases_file.write_text(yaml.safe_dump(cases), encoding="utf-8")
    code, out = run_check(rules, fixtures, capsys)
    assert code == 1
    expected = "no positive fixture" if drop == "match" else "no negative look-alike fixture"
    assert f"[fixtures] {expected}" in out


def test_malformed_yaml_names_file_and_line(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, fixtures = workspace
    (rules / "broken.yml").write_text("title: x\ndetection:\n  selection: [\n", encoding="utf-8")
    code, out = run_check(rules, fixtures, capsys)
    assert code == 1
    assert f"{rules / 'broken.yml'}:" in out and "[yaml] not valid YAML" in out


def test_json_and_junit_output(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules, fixtures = workspace
    edit(rules / GOOD_RULE.name, "attack.t1537", "attack.t9999")
    junit = tmp_path / "check.xml"
    code, out = run_check(rules, fixtures, capsys, "--format", "json", "--junit", str(junit))
    assert code == 1
    issues = json.loads(out)
    assert {"file", "line", "rule_id", "title", "check", "message"} <= set(issues[0])
    suite = ElementTree.fromstring(junit.read_text(encoding="utf-8"))
    failures = suite.findall("./testcase/failure")
    assert suite.get("failures") == "1" and failures
    assert any("attack.t9999" in (f.text or "") for f in failures)
