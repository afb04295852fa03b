"""Allowlists in snaptrail.yml drive the Sigma filters: turning an entry on removes exactly the
matching alert, on every target; an empty list leaves the filter out of the build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.filters import SigmaFilter

from snaptrail.backends import TARGETS
from snaptrail.backends.plugin import outside_regexes
from snaptrail.backends.values import lucene_regex_literal
from snaptrail.config import Config, load_config
from snaptrail.corpus import Conversion, Corpus
from snaptrail.verify.harness import HARNESSES, ExecutorLimit

from expected_limits import expected_unsupported, not_executed
from fixture_cases import FILTERS, REPO, RULES, Case, cases_for, rule_corpus

CREATED = "ba28b7cf-06d4-4eff-b425-1e150b164153"  # EBS Snapshot Created By A Principal ...
SHARED = "2090aec5-97c5-4adf-b4d8-a249f0c5873d"  # EBS Snapshot Shared With Another AWS Account


# The allowlists snaptrail fills in by default (AWS's own services).
SERVICE_LISTS_OFF: dict[str, list[str]] = {
    name: []
    for name in ("aws_service_role_arns", "dlm_role_arns", "backup_role_arns", "image_builder_role_arns")
} | {"aws_service_account_ids": []}


def _config(tmp_path: Path, **lists: list[str]) -> Path:
    """A snaptrail.yml with exactly these allowlists on (the AWS service roles and accounts, on by
    default, off unless given), so a test sees one allowlist's effect alone."""
    path = tmp_path / "snaptrail.yml"
    path.write_text(yaml.safe_dump({"allowlists": {**SERVICE_LISTS_OFF, **lists}}), encoding="utf-8")
    return path


def test_aws_service_roles_are_allowlisted_without_any_snaptrail_yml(tmp_path: Path) -> None:
    from snaptrail.config import AWS_SERVICE_ROLE_ARNS, Config

    assert Config().allowlists.aws_service_role_arns == AWS_SERVICE_ROLE_ARNS
    written = tmp_path / "other.yml"
    written.write_text("allowlists:\n  org_account_ids: []\n", encoding="utf-8")
    assert load_config(written).allowlists.aws_service_role_arns == AWS_SERVICE_ROLE_ARNS


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
    execute = HARNESSES[target].execute
    assert execute is not None, f"{target} does not execute"
    return execute(query, records)


EXECUTING = [name for name, harness in HARNESSES.items() if harness.execute is not None]


def _compiled(config: Config, target: str) -> dict[str, Conversion]:
    return Corpus.load([RULES], [FILTERS], config).compiled(target)


def _pairs() -> list[Any]:
    names = {info.id: info.name for info in rule_corpus().rules}
    return [
        pytest.param(rule_id, target, id=f"{names[rule_id]}-{target}")
        for rule_id in (CREATED, SHARED)
        for target in EXECUTING
        if names[rule_id] not in expected_unsupported(target)
    ]


@pytest.mark.parametrize(("rule_id", "target"), _pairs())
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
    before = _compiled(load_config(_config(tmp_path)), target)[rule_id]
    after = _compiled(config, target)[rule_id]
    assert before.ok and after.ok, (before.error, after.error)
    written = _written(entry, rule_id, target)
    assert written in str(after.query) and written not in str(before.query)
    expected_before = {case.event_id for case in _positives(rule_id)}
    # A share is silenced only when every account it adds is trusted: one trusted account beside an
    # unknown one still alerts (the filter used to drop such a call).
    silenced = {
        case.event_id
        for case in _positives(rule_id)
        if entry == str(case.record["userIdentity"].get("arn"))
        or (rule_id == SHARED and set(_accounts(case.record)) == {entry})
    }
    if rule_id == SHARED:
        beside = [
            c for c in _positives(rule_id) if entry in _accounts(c.record) and len(_accounts(c.record)) > 1
        ]
        assert beside, "no positive sharing with the trusted account beside another one"
    assert trusted.event_id in silenced
    name = next(info.name for info in rule_corpus().rules if info.id == rule_id)
    if name in not_executed(target):
        with pytest.raises(ExecutorLimit):  # pinned: bound by the real parser, not executable here
            _matches(target, str(after.query), records)
        return
    assert _matches(target, str(before.query), records) == expected_before
    assert _matches(target, str(after.query), records) == expected_before - silenced


def _written(entry: str, rule_id: str, target: str) -> str:
    """How the entry reaches the query: a principal as a value; an account of a share as the last of
    the regexes of values outside the list (plugin.outside_regexes), the entry but its last digit."""
    if rule_id == SHARED:
        regex = outside_regexes([entry])[-1].strip("^$")
        # EQL tests one element of the tab-joined keyword, so its classes also exclude the tab.
        return regex.replace("[^", "[^\\t") if target == "elastic-eql" else regex
    return lucene_regex_literal(entry, True) if target == "elastic-lucene" else entry


def _accounts(record: dict[str, Any]) -> list[str]:
    items = (
        ((record.get("requestParameters") or {}).get("createVolumePermission") or {}).get("add") or {}
    ).get("items", [])
    return [str(item["userId"]) for item in items if "userId" in item]


@pytest.mark.parametrize("target", ["splunk", "elastic-esql", "sentinel"])
def test_allowlisted_value_reaches_every_non_executing_target(tmp_path: Path, target: str) -> None:
    _, entry = _shared_case()
    config = load_config(_config(tmp_path, org_account_ids=[entry]))
    after = _compiled(config, target)[SHARED]
    if target == "elastic-esql":
        # Pinned: ES|QL tests a multivalued field for membership, prefix or substring only, so the
        # per-element allowlist (a regex on each account) is a TargetLimitation, never a silent gap.
        assert after.limitation and "items.userId" in str(after.error) and "elastic-esql" in str(after.error)
        return
    assert after.ok, after.error
    assert _written(entry, SHARED, target) in str(after.query)
    parse = HARNESSES[target].parse
    if parse is not None:
        assert not parse(str(after.query)), HARNESSES[target].parser


def test_empty_allowlists_leave_their_filters_out(tmp_path: Path) -> None:
    states = Corpus.load([RULES], [FILTERS], load_config(_config(tmp_path))).filters
    by_title = {state.title: state for state in states}
    assert not by_title["EBS snapshots shared with your own or partner accounts"].active
    # The reason names keys a user can set in snaptrail.yml, not the derived placeholder.
    reason = by_title["EBS snapshots shared with your own or partner accounts"].reason
    assert "org_account_ids + trusted_partner_account_ids" in reason and "trusted_account_ids'" not in reason
    assert not by_title["Your own backup, DR and scanner roles"].active


def test_shipped_config_turns_on_the_aws_service_role_filter() -> None:
    states = rule_corpus(with_filters=True).filters
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
    corpus = Corpus.load([RULES], [FILTERS], config)
    for target in TARGETS:
        for conversion in corpus.compiled(target).values():
            assert conversion.ok or conversion.limitation, f"{target}: {conversion.error}"


def _scoped_rules(sigma_filter: SigmaFilter) -> list[str] | str:
    rules = sigma_filter.filter.rules
    return rules if isinstance(rules, str) else [str(getattr(r, "reference", r)) for r in rules]


def test_every_filter_names_existing_rules() -> None:
    corpus = Corpus.load([RULES], [FILTERS], load_config(REPO / "snaptrail.yml"))
    known = set(corpus.by_id)
    assert corpus.collection.filters, "no filters loaded"
    for sigma_filter in corpus.collection.filters:
        rules = _scoped_rules(sigma_filter)
        if rules == "any":
            continue
        missing = [rule for rule in rules if rule not in known]
        assert not missing, f"{sigma_filter.source}: names rules that do not exist: {missing}"


def test_public_exposure_is_never_filtered_as_aws_service_activity() -> None:
    corpus = Corpus.load([RULES], [FILTERS], load_config(REPO / "snaptrail.yml"))
    service = next(f for f in corpus.collection.filters if "aws_service_roles" in str(f.source))
    scoped = _scoped_rules(service)
    critical = {info.id for info in corpus.rules if info.level == "critical"}
    assert critical and scoped != "any" and not critical & set(scoped)


def test_filters_that_are_off_change_no_query(tmp_path: Path) -> None:
    """An empty allowlist leaves its filter out of every query (not compiled as an empty list)."""
    off = Corpus.load([RULES], [FILTERS], load_config(_config(tmp_path))).compiled("duckdb")
    bare = rule_corpus().compiled("duckdb")
    assert {r: c.query for r, c in off.items()} == {r: c.query for r, c in bare.items()}
