"""Trust for AWS services that no caller can wear (issue #13), proven on every executing engine with
snaptrail's default allowlists: a service's role is trusted only on that service's own calls, the
GuardDuty service accounts are not "another account", and the same role name called from the internet
or through CloudFormation still alerts."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from snaptrail.config import AWS_SERVICE_ROLE_ARNS, SERVICE_LINKED_ROLE_PATH, Config, ConfigError
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


# Records that the rules alone match since they dropped the generic *.amazonaws.com clause, and that
# the aws_service_* filters must remove: (rule, record, the rule's name in expected_limits.yml).
SERVICE_CALLS = [
    ("1dfa92fa-d0e4-41e5-a745-2e1bbbdfe501", "list_snapshot_blocks_aws_service.json",
     "ebs_snapshot_blocks_read_via_direct_api"),
    ("64dd8f44-b1c8-46fb-b99f-b00ec1ce1019", "put_snapshot_block_aws_service.json",
     "ebs_snapshot_written_via_direct_api"),
    ("50397ab9-bcb3-40cf-b9ad-f38987be5965", "copy_aws_backup_cross_region_job.json",
     "rds_snapshot_copied_from_arn"),
    ("93bb8026-f08d-4968-ab7d-808120b4f6ba", "run_instances_autoscaling.json",
     "ec2_instance_launched_with_snapshot_mapping"),
    ("ecf68795-5034-4ccd-a03b-428fccf0fc49", "create_volume_aws_backup_restore.json",
     "ebs_volume_created_from_snapshot"),
    ("0873255c-23bc-4643-b223-42d962b103f5", "aws_backup_service_caller.json",
     "backup_recovery_point_copy_job_started"),
    ("9bd74c6f-ba28-478a-a956-747a93540e09", "copy_backup_by_aws_backup.json",
     "fsx_backup_copied_from_another_region"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "rule_id", "name"),
    [
        pytest.param(target, rule_id, name, id=f"{target}-{rule_name}")
        for rule_id, name, rule_name in SERVICE_CALLS
        for target in _targets(rule_name)
    ],
)
def test_service_calls_are_trusted_by_the_filters_not_by_any_amazonaws_host(
    target: str, rule_id: str, name: str
) -> None:
    own = _record(rule_id, name)
    worn = _worn(own, "0e7b1c1e-1111-4aaa-8bbb-000000000010", "198.51.100.23", None)
    relayed = _worn(own, "0e7b1c1e-1111-4aaa-8bbb-000000000011", "ssm.amazonaws.com", "ssm.amazonaws.com")
    expected = {worn["eventID"], relayed["eventID"]}
    if SERVICE_LINKED_ROLE_PATH in own["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]:
        expected = set()  # a service-linked role cannot be worn or relayed: only its service assumes it
    assert _alerts(target, rule_id, [own, worn, relayed]) == expected


KMS_USED = "baf81d05-a7b7-41fd-a783-70502bf08d11"  # kms_key_used_by_another_account_for_ebs


@pytest.mark.parametrize("target", _targets("kms_key_used_by_another_account_for_ebs"))
def test_guardduty_scan_key_use_is_not_another_account(target: str) -> None:
    guardduty = _record(KMS_USED, "decrypt_guardduty_malware_scan_service_account.json")
    outside = _record(KMS_USED, "decrypt_ec2_infrastructure_external_instance.json")
    assert _alerts(target, KMS_USED, [guardduty, outside]) == {outside["eventID"]}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::*:role/AWSServiceRoleForAmazonGuardDutyMalwareProtection",  # the name, not the path
        "arn:aws:iam::*:role/service-role/AWSBackupDefaultServiceRole",
        "arn:aws:iam::*:role/*",
    ],
)
def test_aws_service_role_arns_outside_the_reserved_path_are_refused(arn: str) -> None:
    # One line naming the file, the key and the entry (snaptrail.config's message).
    key = r"^snaptrail\.yml: allowlists\.aws_service_role_arns: "
    expected = key + re.escape(repr(arn)) + " is not under the reserved path"
    with pytest.raises(ConfigError, match=expected):
        Config.from_mapping({"allowlists": {"aws_service_role_arns": [AWS_SERVICE_ROLE_ARNS[0], arn]}})
