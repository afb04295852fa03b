"""`snaptrail check` passes on the corpus and fails, precisely, on a rule that breaks each check:
exactly one issue per defect, naming the check (the validator's identifier) that found it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.data import mitre_attack
from sigma.validation import SigmaValidator
from sigma.validators.core.tags import ATTACKTagValidator

from snaptrail.checks.pysigma import EXCLUDED_VALIDATORS, use_offline_data, validator_classes
from snaptrail.checks.run import run_checks
from snaptrail.checks.validators import SnaptrailAttackValidator, SnaptrailUnpinnedAttackTagIssue, validators
from snaptrail.cli import main

from fixture_cases import FIXTURES, RULES

GOOD_RULE = RULES / "ebs" / "ebs_snapshot_made_public.yml"
GOOD_FIXTURES = FIXTURES / "rules" / "ebs" / "ebs_snapshot_made_public"
CHAIN = "chain_ebs_snapshot_created_then_made_public.yml"


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


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """The whole shipped corpus (rules and chains), checked against the shipped fixtures."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    return rules


def run_check(
    rules: Path, fixtures: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    code = main(["check", "--rules", str(rules), "--fixtures", str(fixtures), *extra])
    return code, capsys.readouterr().out


def run_json(rules: Path, fixtures: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out = run_check(rules, fixtures, capsys, "--format", "json")
    issues: list[dict[str, Any]] = json.loads(out)
    assert code == (1 if issues else 0)
    return issues


def only_issue(rules: Path, fixtures: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    issues = run_json(rules, fixtures, capsys)
    assert len(issues) == 1, json.dumps(issues, indent=2)
    return issues[0]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_workspace_copy_is_clean(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(*workspace, capsys) == (0, "")


# (check, old, new, message): each break is one defect, so exactly one issue, from that check.
BREAKS = [
    (
        "snaptrail_metadata",
        "falsepositives:\n  - Deliberately",
        "falsepositive:\n  - Deliberately",
        "missing 'falsepositives' (found 'falsepositive': misspelt?)",
    ),
    ("snaptrail_metadata", "triage: |", "triag: |", "missing 'triage' (found 'triag': misspelt?)"),
    ("sigmahq_description_existence", "description: |", "descripton: |", "missing the description field"),
    ("custom_attributes", "references:\n", "reference:\n", "similar to legit; fieldname: reference"),
    ("snaptrail_unknown_attribute", "triage: |", "triage_notes: x\ntriage: |", "['triage_notes']"),
    ("attacktag", "attack.t1537", "attack.t9999", "Invalid MITRE ATT&CK tagging; tag: attack.t9999"),
    (
        "sigmahq_tags_techniques_without_tactics",
        "  - attack.exfiltration\n",
        "",
        "techniques: ['attack.t1537']; missing_tactic: attack.exfiltration",
    ),
    ("snaptrail_attack", "  - attack.t1537\n", "", "no ATT&CK technique tag"),
    (
        "snaptrail_value",
        "attributeType|cased: CREATE_VOLUME_PERMISSION",
        "attributeType|cased: createVolumePermission",
        "'createVolumePermission' is not a value CloudTrail writes in requestParameters.attributeType",
    ),
    (
        "snaptrail_field",
        "createVolumePermission.add.items.group",
        "launchPermission.add.items.group",
        "field 'requestParameters.launchPermission.add.items.group' is not a CloudTrail path of "
        "ec2.amazonaws.com ModifySnapshotAttribute",
    ),
    (
        "snaptrail_field",
        "eventName: ModifySnapshotAttribute",
        "eventName: modifySnapshotAttribute",
        "no event ['modifySnapshotAttribute'] of ['ec2.amazonaws.com'] is in the CloudTrail registry "
        "(CloudTrail writes 'ModifySnapshotAttribute', case-exact)",
    ),
    (
        "snaptrail_successful_calls",
        "  failed:\n    errorCode|exists: true\n  condition: selection and not failed",
        "  condition: selection",
        "does not exclude failed calls",
    ),
    ("snaptrail_logsource", "service: cloudtrail", "service: guardduty", "product: aws, service: guardduty"),
    ("SigmaLevelError", "level: critical", "level: severe", "'severe' is not a valid Sigma rule level"),
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
    lines = out.splitlines()
    assert len(lines) == 1, out  # one defect, one issue
    assert f"[{check}]" in lines[0] and message in lines[0], lines[0]
    assert lines[0].startswith(f"{rule_file}:") and "rule 'EBS Snapshot Made Public'" in lines[0]
    line_number = int(lines[0].split(":")[1])
    text = rule_file.read_text().splitlines()
    if check == "snaptrail_value":  # the line number points at the offending value
        assert "createVolumePermission" in text[line_number - 1]
        assert "CloudTrail writes 'CREATE_VOLUME_PERMISSION', case-exact" in lines[0]
    if check in ("attacktag", "SigmaLevelError"):
        assert new.split()[-1] in text[line_number - 1]


def test_missing_description_is_one_issue(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """pySigma's SigmaHQ validators own this check; snaptrail's must not report it again."""
    rules, fixtures = workspace
    rule_file = rules / GOOD_RULE.name
    data = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
    del data["description"]
    rule_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    issue = only_issue(rules, fixtures, capsys)
    assert issue["check"] == "sigmahq_description_existence"
    assert issue["file"] == str(rule_file) and issue["rule_id"] == "e6860c18-e141-4ba7-9b4f-1c0ae689acfc"


def test_duplicate_id(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rules, fixtures = workspace
    copy = rules / "ebs_snapshot_made_public_again.yml"
    shutil.copy(rules / GOOD_RULE.name, copy)
    edit(copy, "title: EBS Snapshot Made Public", "title: EBS Snapshot Made Public Again")
    issue = only_issue(rules, fixtures, capsys)  # one id shared by two files: one defect
    assert issue["check"] == "identifier_uniqueness"
    assert "identifier: e6860c18-e141-4ba7-9b4f-1c0ae689acfc" in issue["message"]
    # Reported once, on the first file by name, naming the other.
    assert issue["file"] == str(rules / GOOD_RULE.name) and issue["message"].endswith(f"(also in {copy})")


@pytest.mark.parametrize("drop", ["match", "no_match"])
def test_missing_fixture_kind(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], drop: str
) -> None:
    rules, fixtures = workspace
    cases_file = fixtures / "made_public" / "cases.yml"
    cases = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
    cases["cases"] = [case for case in cases["cases"] if case["expect"] != drop]
    cases_file.write_text(yaml.safe_dump(cases), encoding="utf-8")
    issue = only_issue(rules, fixtures, capsys)
    expected = "no positive fixture" if drop == "match" else "no negative look-alike fixture"
    assert issue["check"] == "snaptrail_fixtures" and issue["message"].startswith(expected)


def test_malformed_cases_entry_is_one_issue_in_cases_file(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A dropped declaration is reported where it is, not also as a missing fixture."""
    rules, fixtures = workspace
    cases_file = fixtures / "made_public" / "cases.yml"
    cases = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
    positives = [case for case in cases["cases"] if case["expect"] == "match"]
    negatives = [case for case in cases["cases"] if case["expect"] == "no_match"]
    cases["cases"] = [{**positives[0], "record": "gone.json"}, *negatives]  # the only positive, broken
    cases_file.write_text(yaml.safe_dump(cases), encoding="utf-8")
    issue = only_issue(rules, fixtures, capsys)
    assert issue["check"] == "snaptrail_fixtures" and issue["file"] == str(cases_file)
    assert issue["message"] == "record gone.json does not exist" and issue["line"] > 1


def test_duplicate_fixture_event_id(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rules, fixtures = workspace
    records = sorted((fixtures / "made_public").glob("*.json"))
    first = json.loads(records[0].read_text(encoding="utf-8"))
    second = json.loads(records[1].read_text(encoding="utf-8"))
    second["eventID"] = first["eventID"]
    records[1].write_text(json.dumps(second), encoding="utf-8")
    issue = only_issue(rules, fixtures, capsys)
    assert issue["check"] == "snaptrail_fixtures" and issue["file"] == str(records[1])
    assert f"eventID {first['eventID']} is also used by {records[0]}" == issue["message"]


def test_malformed_yaml_names_file_and_line(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, fixtures = workspace
    (rules / "broken.yml").write_text("title: x\ndetection:\n  selection: [\n", encoding="utf-8")
    code, out = run_check(rules, fixtures, capsys)
    assert code == 1
    assert f"{rules / 'broken.yml'}:" in out and "[yaml] not valid YAML" in out
    assert len(out.splitlines()) == 1, out  # the good rule is still checked, and clean
    assert int(out.split(":")[1]) > 1


def test_unloadable_rule_does_not_stop_the_others(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One issue for the file pySigma cannot load; every other rule is still validated."""
    rules, fixtures = workspace
    broken = rules / "broken.yml"
    shutil.copy(rules / GOOD_RULE.name, broken)
    edit(broken, "status: experimental", "status: wip")
    edit(rules / GOOD_RULE.name, "  - attack.t1537\n", "")
    issues = run_json(rules, fixtures, capsys)
    assert [(i["file"], i["check"]) for i in issues] == [
        (str(broken), "SigmaStatusError"),
        (str(rules / GOOD_RULE.name), "snaptrail_attack"),
    ], issues


def test_chain_field_through_alias(corpus_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A chain's group-by field, resolved through its aliases, is a registry path of each rule's events."""
    edit(corpus_copy / "chains" / CHAIN, ": responseElements.snapshotId", ": responseElements.snapshotID")
    issue = only_issue(corpus_copy, FIXTURES, capsys)
    assert issue["check"] == "snaptrail_field" and issue["file"] == str(corpus_copy / "chains" / CHAIN)
    assert (
        "field 'responseElements.snapshotID' is not a CloudTrail path of ec2.amazonaws.com CreateSnapshot"
        in (issue["message"])
    )


def test_chain_naming_a_missing_rule(corpus_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(corpus_copy / "chains" / CHAIN, "- e6860c18-e141-4ba7-9b4f-1c0ae689acfc  #", "- no-such-rule  #")
    issue = only_issue(corpus_copy, FIXTURES, capsys)
    assert issue["check"] == "chain-reference" and issue["file"] == str(corpus_copy / "chains" / CHAIN)
    assert "no-such-rule" in issue["message"]


def test_chain_of_an_unloadable_rule_is_not_a_second_issue(
    corpus_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule_file = corpus_copy / "ebs" / GOOD_RULE.name  # referenced by chains
    edit(rule_file, "level: critical", "level: severe")
    issue = only_issue(corpus_copy, FIXTURES, capsys)
    assert issue["check"] == "SigmaLevelError" and issue["file"] == str(rule_file)


def test_validator_failure_is_one_issue(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A falsepositive `a: b` parses as a mapping; three SigmaHQ validators fail on it: one issue."""
    rules, fixtures = workspace
    edit(
        rules / GOOD_RULE.name,
        "  - Deliberately published snapshots",
        "  - Deliberately: published snapshots",
    )
    issue = only_issue(rules, fixtures, capsys)
    assert issue["check"] == "validator-error" and "sigmahq_falsepositives_capital" in issue["message"]


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


# ---- the validators as pySigma plugins --------------------------------------------------------------
def test_registered_for_sigma_cli() -> None:
    """sigma-cli reads `validators` of sigma.validators.snaptrail; identifiers follow pySigma's naming."""
    import sigma.validators.snaptrail as portion

    assert portion.__all__ == ["validators"] and portion.validators is validators
    assert set(validators) == {
        "snaptrail_logsource", "snaptrail_field", "snaptrail_value", "snaptrail_successful_calls",
        "snaptrail_metadata", "snaptrail_unknown_attribute", "snaptrail_mitre_link", "snaptrail_attack",
        "snaptrail_fixtures",
    }  # fmt: skip
    assert set(validators) <= set(validator_classes()) and not set(validators) & set(EXCLUDED_VALIDATORS)


def test_validation_config_configures_the_fixture_root(tmp_path: Path) -> None:
    """The way `sigma check -c` builds validators: by identifier, with `config` as keyword arguments."""
    rule = SigmaCollection.from_yaml(GOOD_RULE.read_text(encoding="utf-8")).rules[0]
    config = {"validators": ["snaptrail_fixtures"], "config": {"snaptrail_fixtures": {"root": str(tmp_path)}}}
    assert [
        type(issue).__name__ for issue in SigmaValidator.from_dict(config, validators).validate_rule(rule)
    ] == [
        "SnaptrailMissingFixtureIssue",
        "SnaptrailMissingFixtureIssue",
    ]
    unconfigured = SigmaValidator.from_dict({"validators": ["snaptrail_fixtures"]}, validators)
    assert unconfigured.validate_rule(rule) == []  # no fixture folder: nothing to check


def test_attack_tag_outside_the_pinned_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `sigma check` pySigma loads MITRE's current ATT&CK; a technique newer than the pinned
    table passes core attacktag and is snaptrail_attack's one issue."""
    text = GOOD_RULE.read_text(encoding="utf-8").replace("attack.t1537", "attack.t1537\n  - attack.t1999")
    rule = SigmaCollection.from_yaml(text).rules[0]
    use_offline_data()  # monkeypatch reads the attribute first: from the pinned table, not GitHub
    monkeypatch.setattr(
        ATTACKTagValidator, "_load_allowed_tags", lambda self: {"exfiltration", "t1537", "t1999"}
    )
    monkeypatch.setattr(mitre_attack, "mitre_attack_version", "99.0", raising=False)
    issues = SnaptrailAttackValidator().validate(rule)
    assert len(issues) == 1 and isinstance(issues[0], SnaptrailUnpinnedAttackTagIssue)
    assert issues[0].message.startswith("attack.t1999 is in ATT&CK 99.0 but not in the pinned ATT&CK 18.1")


def test_cases_for_no_rule_are_dangling_in_the_whole_corpus(workspace: tuple[Path, Path]) -> None:
    rules, fixtures = workspace
    stray = fixtures / "stray" / "cases.yml"
    stray.parent.mkdir()
    record = json.loads(next((fixtures / "made_public").glob("*.json")).read_text(encoding="utf-8"))
    (stray.parent / "record.json").write_text(json.dumps({**record, "eventID": "stray"}), encoding="utf-8")
    stray.write_text(
        "rule_id: no-such-rule\ncases:\n  - record: record.json\n    expect: match\n", encoding="utf-8"
    )
    # Checking a subset (`--rules`), cases of rules outside it are not dangling.
    assert [
        i for i in run_checks([rules], fixtures, whole_corpus=False).issues if "no-such-rule" in i.message
    ] == []
    (issue,) = run_checks([rules], fixtures, whole_corpus=True).issues
    assert (issue.check, issue.file) == ("snaptrail_fixtures", str(stray))
    assert issue.message == "cases.yml declares rule_id no-such-rule, which is no rule"
