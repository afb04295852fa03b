"""The scan's candidates: which records it parses, read from the rules' own conditions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from snaptrail.candidates import candidates
from snaptrail.cli import main
from snaptrail.cloudtrail.records import Limits, read_file

from fixture_cases import RULES, all_cases, rule_corpus

HEAD = (
    "title: t\nid: 6f1d3c2a-1111-4222-8333-4444555500{n:02d}\n"
    "logsource: {{product: aws, service: cloudtrail}}\n"
)
S = "detection:\n  s:\n    eventName{modifier}: {value}\n  condition: s\n"


def _rules(*detections: str) -> list[SigmaRule]:
    text = "\n---\n".join(HEAD.format(n=n) + d + "level: low\n" for n, d in enumerate(detections))
    return list(SigmaCollection.from_yaml(text).rules)  # type: ignore[arg-type]


def test_every_shipped_rule_pins_its_event_names(tmp_path: Path) -> None:
    rules = [rule for rule in rule_corpus(with_filters=True).collection.rules if isinstance(rule, SigmaRule)]
    found = candidates(rules)
    assert found.names is not None and found.unconstrained == ()
    positives = {case.record["eventID"]: case.record for case in all_cases() if case.expect_match}
    for record in positives.values():
        name = record["eventName"]
        assert name.encode() in found.names, name
    # Every record a rule matches passes the sieve of names and literals, written as CloudTrail
    # writes a log file (compact, eventVersion first), and as upper case where Sigma ignores case.
    records = [{"eventVersion": r.get("eventVersion", "1.08")} | r for r in positives.values()]
    path = tmp_path / "trail.json"
    path.write_bytes(_s3(records))
    assert {r.event_id for r in read_file(path, Limits(), found.names).records} == set(positives)


def test_a_name_with_rules_that_need_literals_is_parsed_only_with_them(tmp_path: Path) -> None:
    detection = (
        "detection:\n  s:\n    eventSource: kms.amazonaws.com\n    eventName: Decrypt\n"
        "    requestParameters.encryptionContext.aws:ebs:id|exists: true\n  condition: s\n"
    )
    names = candidates(_rules(detection)).names
    assert names is not None
    base = {"eventVersion": "1.08", "eventTime": "2026-06-01T00:00:00Z", "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt", "recipientAccountId": "111122223333"}  # fmt: skip
    context = {"aws:ebs:id": "vol-0a1b2c3d"}
    ebs = base | {"eventID": "ebs", "requestParameters": {"encryptionContext": context}}
    context = {"aws:lambda:FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:f"}
    lambda_ = base | {"eventID": "lambda", "requestParameters": {"encryptionContext": context}}
    upper = ebs | {"eventID": "upper", "eventSource": "KMS.amazonaws.com"}  # Sigma ignores case: still parsed
    path = tmp_path / "trail.json"
    path.write_bytes(_s3([lambda_, ebs, upper]))
    read = read_file(path, Limits(), names)
    assert [r.event_id for r in read.records] == ["ebs", "upper"]
    assert read.total == 3 and not read.problems
    assert names.needs_for(b"Encrypt") is None and names.needs_for(b"decrypt")


@pytest.mark.parametrize(
    ("detection", "parsed", "skipped"),
    [
        (S.format(modifier="", value="CreateSnapshot"), "CreateSnapshot", "DeleteSnapshot"),
        # Sigma compares case-insensitively; wildcards and modifiers keep their meaning.
        (S.format(modifier="", value="createsnapshot"), "CreateSnapshot", "CreateVolume"),
        (S.format(modifier="|startswith", value="CreateSnap"), "CreateSnapshots", "Create"),
        (S.format(modifier="|contains", value="Snapshot"), "CopyDBSnapshot", "CopyImage"),
        (S.format(modifier="", value="Copy?mage"), "CopyImage", "CopyImages"),
        # OR: every branch must name events; AND: one branch naming them is enough.
        ("detection:\n  a:\n    eventName: A1\n  b:\n    eventName: B1\n  condition: a or b\n", "B1", "C1"),
        (
            "detection:\n  a:\n    eventName: A1\n  b:\n    awsRegion: x\n  condition: a and not b\n",
            "A1",
            "B1",
        ),
    ],
)
def test_names_the_rule_requires(detection: str, parsed: str, skipped: str) -> None:
    names = candidates(_rules(detection)).names
    assert names is not None
    assert parsed.encode() in names
    assert skipped.encode() not in names


@pytest.mark.parametrize(
    "detection",
    [
        "detection:\n  s:\n    eventName|re: '^Create'\n  condition: s\n",
        "detection:\n  a:\n    eventName: A1\n  b:\n    awsRegion: x\n  condition: a or b\n",
        "detection:\n  s:\n    eventName: A1\n  condition: not s\n",
        "detection:\n  keywords:\n    - CreateSnapshot\n  condition: keywords\n",
    ],
)
def test_a_rule_that_pins_no_name_makes_every_record_a_candidate(detection: str) -> None:
    found = candidates(_rules("detection:\n  s:\n    eventName: A1\n  condition: s\n", detection))
    assert found.names is None and found.unconstrained == ("t",)


def _s3(records: list[dict]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def test_only_candidates_are_parsed_but_every_record_is_counted(tmp_path: Path) -> None:
    case = next(c for c in all_cases() if c.expect_match)
    other = dict(case.record, eventID="other", eventName="DescribeInstances")
    path = tmp_path / "trail.json.gz"
    path.write_bytes(gzip.compress(_s3([other, case.record, other | {"eventID": "other-2"}])))
    pattern = candidates(_rules(S.format(modifier="", value=case.record["eventName"])))
    read = read_file(path, Limits(), pattern.names)
    assert [r.data["eventID"] for r in read.records] == [case.record["eventID"]]
    assert [r.origin for r in read.records] == [f"{path}:Records[1]"]
    assert read.total == 3 and not read.problems
    # The same file parsed whole, as any file not in CloudTrail's own form is.
    assert len(read_file(path, Limits()).records) == 3


def test_scan_says_when_a_rule_makes_every_record_a_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(
        HEAD.format(n=1) + "detection:\n  s:\n    eventName|re: Snapshot\n  condition: s\nlevel: low\n",
        encoding="utf-8",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "trail.json").write_bytes(_s3([c.record for c in all_cases()[:3]]))
    assert main(["scan", str(logs), "--rules", str(rule), "--rules", str(RULES)]) == 0
    err = capsys.readouterr().err
    assert "every record parsed: these rules pin no eventName: t" in err
