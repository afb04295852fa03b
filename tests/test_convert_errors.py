"""Conversion fails loudly: unknown fields, keyword searches, non-CloudTrail rules, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from snaptrail.backends import TARGETS
from snaptrail.cli import main

from fixture_cases import RULES

RULE = """title: {title}
id: 6f1d3c2a-1111-4222-8333-44445555{suffix}
status: test
logsource:
  product: {product}
  service: {service}
detection:
{detection}
level: low
"""


def write_rule(
    folder: Path, name: str, detection: str, product: str = "aws", service: str = "cloudtrail"
) -> Path:
    path = folder / f"{name}.yml"
    suffix = f"{abs(hash(name)) % 10**4:04d}"
    path.write_text(
        RULE.format(title=name, suffix=suffix, product=product, service=service, detection=detection),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_unknown_field_names_file_rule_field_and_target(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rule(
        tmp_path, "unknown_field", "  sel:\n    responseElements.ConsoleLogin: Success\n  condition: sel"
    )
    assert main(["convert", "-t", target, str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == "", "no query may be printed for a rule that failed"
    for part in (str(path), "rule 'unknown_field'", "'responseElements.ConsoleLogin'", f"target {target}"):
        assert part in captured.err, f"{part!r} missing from: {captured.err}"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_keyword_search_is_refused(tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rule(
        tmp_path, "keyword", "  keywords:\n    - ModifySnapshotAttribute\n  condition: keywords"
    )
    assert main(["convert", "-t", target, str(path)]) == 1
    assert "keyword searches without a field are not supported" in capsys.readouterr().err


def test_object_instead_of_leaf_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rule(
        tmp_path,
        "object",
        "  sel:\n    requestParameters.createVolumePermission|contains: all\n  condition: sel",
    )
    assert main(["convert", "-t", "sentinel", str(path)]) == 1
    assert "is an object, not a value" in capsys.readouterr().err


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_rules_for_other_log_sources_are_refused(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rule(
        tmp_path, "windows", "  sel:\n    EventID: 4624\n  condition: sel", "windows", "security"
    )
    assert main(["convert", "-t", target, str(path)]) == 1
    assert "handles only rules with logsource" in capsys.readouterr().err


def test_malformed_rule_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(
        "title: broken\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  condition: sel\n"
    )
    assert main(["convert", "-t", "duckdb", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err


def test_invalid_yaml_is_named_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "colon.yml"
    path.write_text("title: A: B\nlogsource: {product: aws, service: cloudtrail}\n", encoding="utf-8")
    assert main(["convert", "-t", "splunk", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "mapping values are not allowed" in err


def test_chain_naming_a_missing_rule_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "chain.yml"
    path.write_text(
        "title: Dangling\nid: 0e0e0e0e-0000-4000-8000-000000000001\ncorrelation:\n  type: event_count\n"
        "  rules: [0e0e0e0e-0000-4000-8000-0000000000ff]\n  group-by: [userIdentity.arn]\n  timespan: 10m\n"
        "  condition: {gte: 2}\n",
        encoding="utf-8",
    )
    assert main(["convert", "-t", "duckdb", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "0e0e0e0e-0000-4000-8000-0000000000ff" in err


@pytest.mark.parametrize("target", ["duckdb", "sentinel", "splunk"])
def test_chain_keyed_on_an_array_is_refused(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = RULES / "ebs" / "ebs_snapshot_shared_with_account.yml"
    path = tmp_path / "chain.yml"
    path.write_text(
        "title: Keyed On An Array\nid: 0e0e0e0e-0000-4000-8000-000000000002\n"
        "correlation:\n  type: event_count\n"
        "  rules: [2090aec5-97c5-4adf-b4d8-a249f0c5873d]\n"
        "  group-by: [requestParameters.createVolumePermission.add.items.userId]\n"
        "  timespan: 10m\n  condition: {gte: 2}\n",
        encoding="utf-8",
    )
    assert main(["convert", "-t", target, str(shared), str(path)]) == 1
    err = capsys.readouterr().err
    assert "chain key or counted value must be a single value" in err and f"target {target}" in err


def test_third_party_rule_with_known_fields_converts_everywhere(tmp_path: Path) -> None:
    # A SigmaHQ-style CloudTrail rule (not ours): fields from the registry's envelope only.
    path = write_rule(
        tmp_path,
        "third_party",
        "  sel:\n    eventSource: ec2.amazonaws.com\n    eventName: DisableEbsEncryptionByDefault\n"
        "  condition: sel",
    )
    for target in TARGETS:
        assert main(["convert", "-t", target, str(path)]) == 0, target
