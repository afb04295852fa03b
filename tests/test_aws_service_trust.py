"""Trust for AWS services that no caller can wear (issue #13), proven on every executing engine with
snaptrail's default allowlists: a service's role is trusted only on that service's own calls, the
GuardDuty service accounts are not "another account", and the same role name called from the internet
or through CloudFormation still alerts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from snaptrail.config import Config
from snaptrail.corpus import Corpus
from snaptrail.verify.harness import HARNESSES

from expected_limits import expected_unsupported, not_executed
from fixture_cases import FILTERS, RULES, cases_for

CREATED = "ba28b7cf-06d4-4eff-b425-1e150b164153"  # ebs_snapshot_created
USED = "152cdff6-71f2-4f13-804d-13dc99c36841"  # ebs_shared_snapshot_used_by_another_account
GUARDDUTY_EU_WEST_1 = "283769539786"  # GuardDuty service account of eu-west-1 (AWS's list per Region)
EXECUTING = [name for name, harness in HARNESSES.items() if harness.execute is not None]


def _record(rule_id: str, name: str) -> dict[str, Any]:
    case = next(c for c in cases_for(rule_id) if c.declared == name)
    return copy.deepcopy(case.record)


def _worn(record: dict[str, Any], event_id: str, source: str, invoked_by: str | None) -> dict[str, Any]:
    """The service's role name, called by someone else: from an address, or through another service."""
    worn = copy.deepcopy(record)
    worn["eventID"] = event_id
    worn["sourceIPAddress"] = source
    worn["userAgent"] = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64"
    worn["userIdentity"].pop("invokedBy", None)
    if invoked_by is not None:
        worn["userIdentity"]["invokedBy"] = invoked_by
    return worn


def _alerts(target: str, rule_id: str, records: list[dict[str, Any]]) -> set[str]:
    conversion = Corpus.load([RULES], [FILTERS], Config()).compiled(target)[rule_id]
    assert conversion.ok, conversion.error
    execute = HARNESSES[target].execute
    assert execute is not None
    return execute(str(conversion.query), records)


def _targets(rule_name: str) -> list[str]:
    return [
        t for t in EXECUTING if rule_name not in expected_unsupported(t) and rule_name not in not_executed(t)
    ]


@pytest.mark.parametrize("target", _targets("ebs_snapshot_created"))
def test_service_role_trusted_only_on_the_services_own_calls(target: str) -> None:
    dlm = _record(CREATED, "create_snapshot_dlm.json")
    backup = _record(CREATED, "create_snapshot_aws_backup.json")
    guardduty = _record(CREATED, "create_snapshot_guardduty_malware_protection.json")
    from_internet = _worn(dlm, "0e7b1c1e-1111-4aaa-8bbb-000000000001", "198.51.100.23", None)
    via_cloudformation = _worn(
        backup,
        "0e7b1c1e-1111-4aaa-8bbb-000000000002",
        "cloudformation.amazonaws.com",
        "cloudformation.amazonaws.com",
    )
    records = [dlm, backup, guardduty, from_internet, via_cloudformation]
    assert _alerts(target, CREATED, records) == {from_internet["eventID"], via_cloudformation["eventID"]}


@pytest.mark.parametrize("target", _targets("ebs_shared_snapshot_used_by_another_account"))
def test_guardduty_service_account_is_not_another_account(target: str) -> None:
    outside = _record(USED, "shared_snapshot_volume_created_outside_account.json")
    guardduty = copy.deepcopy(outside)
    guardduty["eventID"] = "0e7b1c1e-1111-4aaa-8bbb-000000000003"
    guardduty["userIdentity"]["accountId"] = GUARDDUTY_EU_WEST_1
    assert _alerts(target, USED, [outside, guardduty]) == {outside["eventID"]}
