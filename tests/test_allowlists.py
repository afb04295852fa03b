"""Allowlists in snaptrail.yml drive the Sigma filters: turning an entry on removes exactly the
matching alert, on every target; an empty list leaves the filter out of the build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from snaptrail.backends import TARGETS
from snaptrail.backends.values import lucene_regex_literal
from snaptrail.config import load_config
from snaptrail.convert import convert, load_rules
from snaptrail.engine import CloudTrailStore
from checkers.storage import to_ecs_document

from checkers.executors import eql_event_ids, kql_event_ids
from checkers.kusto_checker import KustoChecker
from checkers.lucene_checker import run_lucene
from fixture_cases import RULES, Case, cases_for

REPO = Path(__file__).resolve().parent.parent
FILTERS = REPO / "sigma" / "filters"
CREATED = "ba28b7cf-06d4-4eff-b425-1e150b164153"  # EBS Snapshot Created By A Principal ...
SHARED = "2090aec5-97c5-4adf-b4d8-a249f0c5873d"  # EBS Snapshot Shared With Another AWS Account


def _config(tmp_path: Path, **lists: list[str]) -> Path:
    path = tmp_path / "snaptrail.yml"
    path.write_text(yaml.safe_dump({"allowlists": lists}), encoding="utf-8")
    return path


def _positives(rule_id: str) -> list[Case]:
    return [case for case in cases_for(rule_id) if case.expect_match]


def _trusted_case(rule_id: str) -> tuple[Case, str]:
    """A positive of the rule and the allowlist entry that should silence it."""
    case = _positives(rule_id)[0]
    return case, str(case.record["userIdentity"]["arn"])


def _shared_case() -> tuple[Case, str]:
    for case in _positives(SHARED):
        items = case.record["requestParameters"]["createVolumePermission"]["add"]["items"]
        accounts = [item["userId"] for item in items if "userId" in item]
        if len(accounts) == 1:
            return case, accounts[0]
    raise AssertionError("no positive with exactly one receiving account")


def _matches(target: str, query: str, records: list[dict[str, Any]]) -> set[str]:
    if target == "duckdb":
        store = CloudTrailStore()
        store.add((r["eventID"], r) for r in records)
        return set(store.matching_event_ids(query))
    if target == "elastic-lucene":
        result = run_lucene({"q": query}, {r["eventID"]: to_ecs_document(r) for r in records})["q"]
        assert result.error is None, result.error
        return set(result.matches)
    if target == "elastic-eql":
        return eql_event_ids(query, records)
    if target == "sentinel":
        return kql_event_ids(query, records)
    raise AssertionError(f"{target} does not execute")


EXECUTING = ["duckdb", "elastic-lucene", "elastic-eql", "sentinel"]


@pytest.mark.parametrize("target", EXECUTING)
@pytest.mark.parametrize("rule_id", [CREATED, SHARED])
def test_allowlist_entry_removes_exactly_the_matching_alert(
    tmp_path: Path, target: str, rule_id: str
) -> None:
    if rule_id == CREATED:
        trusted, entry = _trusted_case(rule_id)
        config = load_config(_config(tmp_path, trusted_principal_arns=[entry]))
    else:
        trusted, entry = _shared_case()
        config = load_config(_config(tmp_path, org_account_ids=[entry]))
    records = [case.record for case in cases_for(rule_id)]
    before = {c.rule_id: c for c in convert([RULES], target, load_config(_config(tmp_path)), [FILTERS])}[
        rule_id
    ]
    after = {c.rule_id: c for c in convert([RULES], target, config, [FILTERS])}[rule_id]
    if before.limitation:
        pytest.skip(f"{target} cannot express the rule: {before.error}")
    assert before.ok and after.ok, (before.error, after.error)
    written = lucene_regex_literal(entry, True) if target == "elastic-lucene" else entry
    assert written in str(after.query) and written not in str(before.query)
    expected_before = {case.event_id for case in _positives(rule_id)}
    silenced = {
        case.event_id
        for case in _positives(rule_id)
        if entry in (str(case.record["userIdentity"].get("arn")), *_accounts(case.record))
    }
    assert trusted.event_id in silenced
    assert _matches(target, str(before.query), records) == expected_before
    assert _matches(target, str(after.query), records) == expected_before - silenced


def _accounts(record: dict[str, Any]) -> list[str]:
    items = (
        ((record.get("requestParameters") or {}).get("createVolumePermission") or {}).get("add") or {}
    ).get("items", [])
    return [str(item["userId"]) for item in items if "userId" in item]


@pytest.mark.parametrize("target", ["splunk", "elastic-esql", "sentinel"])
def test_allowlisted_value_reaches_every_non_executing_target(tmp_path: Path, target: str) -> None:
    _, entry = _shared_case()
    config = load_config(_config(tmp_path, org_account_ids=[entry]))
    after = {c.rule_id: c for c in convert([RULES], target, config, [FILTERS])}[SHARED]
    assert after.ok, after.error
    assert entry in str(after.query)
    if target == "sentinel":
        with KustoChecker() as checker:
            assert not checker.errors(str(after.query))
    if target == "elastic-esql":
        import esql
        from esql import ParserConfig, Schema

        from snaptrail.backends.elastic import ecs_field_types

        with ParserConfig(Schema({"@timestamp": "date", **ecs_field_types()}), min_stack_version="9.5.0"):
            esql.parse_query(str(after.query))


def test_empty_allowlists_leave_their_filters_out(tmp_path: Path) -> None:
    _, states = load_rules([RULES], [FILTERS], load_config(_config(tmp_path)))
    by_title = {state.title: state for state in states}
    assert not by_title["EBS snapshots shared with your own or partner accounts"].active
    assert "org_account_ids" not in by_title["EBS snapshots shared with your own or partner accounts"].reason
    assert "trusted_account_ids" in by_title["EBS snapshots shared with your own or partner accounts"].reason
    assert not by_title["Your own backup, DR and scanner roles"].active


def test_shipped_config_turns_on_the_aws_service_role_filter() -> None:
    _, states = load_rules([RULES], [FILTERS], load_config(REPO / "snaptrail.yml"))
    assert {s.title: s.active for s in states}["Roles AWS services assume on your behalf"]


def test_unknown_allowlist_is_an_error(tmp_path: Path) -> None:
    from snaptrail.config import ConfigError

    with pytest.raises(ConfigError, match="org_acount_ids"):
        load_config(_config(tmp_path, org_acount_ids=["111122223333"]))


def test_every_target_compiles_with_all_allowlists_on(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            aws_service_role_arns=["arn:aws:iam::*:role/aws-service-role/*"],
            org_account_ids=["111122223333"],
            trusted_partner_account_ids=["222233334444"],
            trusted_principal_arns=["arn:aws:iam::*:role/backup-automation"],
            trusted_backup_vault_arns=["arn:aws:backup:*:111122223333:backup-vault:*"],
        )
    )
    for target in TARGETS:
        for conversion in convert([RULES], target, config, [FILTERS]):
            assert conversion.ok or conversion.limitation, f"{target}: {conversion.error}"


def test_every_filter_names_existing_rules() -> None:
    known = {str(yaml.safe_load(p.read_text())["id"]) for p in RULES.rglob("*.yml")}
    for path in sorted(FILTERS.glob("*.yml")):
        rules = yaml.safe_load(path.read_text())["filter"]["rules"]
        if rules == "any":
            continue
        missing = [rule for rule in rules if str(rule) not in known]
        assert not missing, f"{path.name} names rules that do not exist: {missing}"


def test_public_exposure_is_never_filtered_as_aws_service_activity() -> None:
    scoped = yaml.safe_load((FILTERS / "aws_service_roles.yml").read_text())["filter"]["rules"]
    public = {
        str(yaml.safe_load(p.read_text())["id"])
        for p in RULES.rglob("*.yml")
        if yaml.safe_load(p.read_text())["level"] == "critical"
    }
    assert scoped != "any" and not public & {str(rule) for rule in scoped}
