"""Sigma semantics on every target: each modifier, proven on the engines that execute.

Small rules, one construct each, over a handful of CloudTrail records. The expected matches
were worked out by hand from the Sigma specification (case-insensitive by default, `|cased`,
wildcards, `|re` searches, `|cidr`, `|exists`, null, comparisons, `|all`, lists, `not`, and
any-element semantics for array fields); every executing target must reproduce them. Where a
target cannot express a construct, conversion must fail with a TargetLimitation naming rule,
field and target, never produce an approximate query.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from snaptrail.backends.elastic import ecs_field_types
from snaptrail.convert import Conversion, convert
from snaptrail.engine import CloudTrailStore
from checkers.storage import to_ecs_document

from checkers.executors import eql_event_ids, eql_results, kql_event_ids
from checkers.kusto_checker import KustoChecker
from checkers.lucene_checker import run_lucene

OWNER = "111122223333"


def record(event_id: str, event_name: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEPRINCIPAL1",
            "arn": f"arn:aws:iam::{OWNER}:user/Alice",
            "accountId": OWNER,
            "accessKeyId": "AKIAEXAMPLEKEY000001",
            "userName": "Alice",
        },
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
        "requestParameters": {},
        "responseElements": {"_return": True},
        "requestID": f"0000aaaa-0000-4000-8000-{event_id[-12:]:0>12}",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": OWNER,
        "eventCategory": "Management",
    }
    for key, value in changes.items():
        base[key] = value
    return base


def share(*items: dict[str, str], operation: str = "add") -> dict[str, Any]:
    return {
        "snapshotId": "snap-0123456789abcdef0",
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {operation: {"items": list(items)}},
    }


RECORDS: dict[str, dict[str, Any]] = {
    r["eventID"]: r
    for r in [
        record(
            "e1-share",
            "ModifySnapshotAttribute",
            requestParameters=share({"userId": "444455556666"}, {"group": "all"}),
        ),
        record(
            "e2-remove",
            "ModifySnapshotAttribute",
            requestParameters=share({"group": "all"}, operation="remove"),
            sourceIPAddress="AWS Internal",
            userAgent="AWS Internal",
            userIdentity={
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEPRINCIPAL1",
                "arn": f"arn:aws:iam::{OWNER}:user/alice",
                "accountId": OWNER,
                "userName": "alice",
            },
        ),
        record(
            "e3-failed",
            "CreateSnapshot",
            errorCode="Client.UnauthorizedOperation",
            errorMessage="You are not authorized to perform this operation.",
            requestParameters={"volumeId": "vol-0123456789abcdef0"},
            responseElements=None,
            sourceIPAddress="198.51.100.20",
        ),
        record(
            "e4-ingress",
            "AuthorizeSecurityGroupIngress",
            sourceIPAddress="ec2.amazonaws.com",
            requestParameters={
                "groupId": "sg-0123456789abcdef0",
                "ipPermissions": {
                    "items": [
                        {
                            "ipProtocol": "tcp",
                            "fromPort": 22,
                            "toPort": 22,
                            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        }
                    ]
                },
            },
            responseElements={
                "_return": True,
                "securityGroupRuleSet": {
                    "items": [
                        {
                            "groupId": "sg-0123456789abcdef0",
                            "isEgress": False,
                            "ipProtocol": "tcp",
                            "fromPort": 22,
                            "toPort": 22,
                            "cidrIpv4": "0.0.0.0/0",
                        }
                    ]
                },
            },
        ),
        record(
            "e5-bigvol",
            "CreateVolume",
            requestParameters={"snapshotId": "snap-0123456789abcdef0", "size": 500},
        ),
        record(
            "e6-smallvol",
            "CreateVolume",
            requestParameters={"snapshotId": "snap-0123456789abcdef1", "size": 8},
        ),
        record(
            "e7-two-accounts",
            "ModifySnapshotAttribute",
            requestParameters=share({"userId": "444455556666"}, {"userId": "777788889999"}),
        ),
        record("e8-describe", "DescribeSnapshots", readOnly=True, requestParameters={"ownersSet": {}}),
        record(
            "e10-all-traffic",
            "AuthorizeSecurityGroupIngress",
            requestParameters={
                "groupId": "sg-0123456789abcdef1",
                "ipPermissions": {"items": [{"ipProtocol": "-1", "fromPort": -1, "toPort": -1}]},
            },
        ),
        record(
            "e11-kms-decrypt",
            "Decrypt",
            eventSource="kms.amazonaws.com",
            requestParameters={
                "keyId": "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-4222-8333-444455556666",
                "encryptionContext": {"aws:ebs:id": "vol-0123456789abcdef0"},
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            },
            responseElements=None,
        ),
        record(
            "e9-shared-copy",
            "SharedSnapshotCopyInitiated",
            userIdentity={
                "type": "AWSAccount",
                "accountId": "999900001111",
                "invokedBy": "ec2.amazonaws.com",
            },
            sourceIPAddress="ec2.amazonaws.com",
            userAgent="ec2.amazonaws.com",
            requestParameters=None,
            responseElements=None,
            eventType="AwsServiceEvent",
            serviceEventDetails={"snapshotId": "snap-0123456789abcdef0"},
        ),
    ]
}
for _r in RECORDS.values():  # service events carry no request/response keys at all
    if _r["requestParameters"] is None and _r["eventType"] == "AwsServiceEvent":
        del _r["requestParameters"], _r["responseElements"]

ALL = set(RECORDS)

# (name, detection YAML, expected eventIDs)
CASES: list[tuple[str, str, set[str]]] = [
    (
        "default_is_case_insensitive",
        "sel:\n    eventName: modifysnapshotattribute\n  condition: sel",
        {"e1-share", "e2-remove", "e7-two-accounts"},
    ),
    (
        "cased_is_case_sensitive",
        "sel:\n    userIdentity.arn|cased: 'arn:aws:iam::111122223333:user/Alice'\n  condition: sel",
        ALL - {"e2-remove", "e9-shared-copy"},
    ),
    (
        "wildcard_in_the_middle",
        "sel:\n    userIdentity.arn: 'arn:aws:iam::*:user/ALICE'\n  condition: sel",
        ALL - {"e9-shared-copy"},
    ),
    (
        "single_char_wildcard",
        "sel:\n    userIdentity.arn: 'arn:aws:iam::111122223333:user/alic?'\n  condition: sel",
        ALL - {"e9-shared-copy"},
    ),
    (
        "startswith",
        "sel:\n    userAgent|startswith: 'AWS-CLI/2.'\n  condition: sel",
        ALL - {"e2-remove", "e9-shared-copy"},
    ),
    ("contains", "sel:\n    userAgent|contains: internal\n  condition: sel", {"e2-remove"}),
    (
        "endswith",
        "sel:\n    sourceIPAddress|endswith: '.AMAZONAWS.COM'\n  condition: sel",
        {"e4-ingress", "e9-shared-copy"},
    ),
    (
        "regex_searches_case_sensitively",
        "sel:\n    userAgent|re: 'Python/3\\.1[0-9]'\n  condition: sel",
        ALL - {"e2-remove", "e9-shared-copy"},
    ),
    ("regex_anchor", "sel:\n    userAgent|re: '^AWS Int'\n  condition: sel", {"e2-remove"}),
    ("regex_ignorecase_flag", "sel:\n    userAgent|re|i: '^aws int'\n  condition: sel", {"e2-remove"}),
    (
        "cidr",
        "sel:\n    sourceIPAddress|cidr: 203.0.113.0/24\n  condition: sel",
        ALL - {"e2-remove", "e3-failed", "e4-ingress", "e9-shared-copy"},
    ),
    (
        "exists_on_array_leaf",
        "sel:\n    requestParameters.createVolumePermission.add.items.userId|exists: true\n  condition: sel",
        {"e1-share", "e7-two-accounts"},
    ),
    ("exists_false", "sel:\n    errorCode|exists: false\n  condition: sel", ALL - {"e3-failed"}),
    ("null", "sel:\n    errorCode: null\n  condition: sel", ALL - {"e3-failed"}),
    ("numeric_comparison", "sel:\n    requestParameters.size|gte: 100\n  condition: sel", {"e5-bigvol"}),
    (
        "all_on_array",
        "sel:\n    requestParameters.createVolumePermission.add.items.userId|all:\n"
        "      - '444455556666'\n      - '777788889999'\n  condition: sel",
        {"e7-two-accounts"},
    ),
    (
        "value_list",
        "sel:\n    eventName:\n      - CreateVolume\n      - CreateSnapshot\n  condition: sel",
        {"e3-failed", "e5-bigvol", "e6-smallvol"},
    ),
    (
        "any_element_of_array",
        "sel:\n    requestParameters.createVolumePermission.add.items.group|cased: all\n  condition: sel",
        {"e1-share"},
    ),
    (
        "not_on_array",
        "sel:\n    eventName: ModifySnapshotAttribute\n  public:\n"
        "    requestParameters.createVolumePermission.add.items.group|cased: all\n"
        "  condition: sel and not public",
        {"e2-remove", "e7-two-accounts"},
    ),
    (
        "startswith_on_array",
        "sel:\n    requestParameters.createVolumePermission.add.items.userId|startswith: '7777'\n"
        "  condition: sel",
        {"e7-two-accounts"},
    ),
    (
        "values_or_on_array",
        "sel:\n    requestParameters.createVolumePermission.add.items.userId|startswith:\n"
        "      - '4'\n      - '9'\n  condition: sel",
        {"e1-share", "e7-two-accounts"},
    ),
    (
        "negative_number",
        "sel:\n    requestParameters.ipPermissions.items.fromPort: -1\n  condition: sel",
        {"e10-all-traffic"},
    ),
    (
        "field_reference_contains",
        "sel:\n    userIdentity.arn|fieldref|contains: recipientAccountId\n  condition: sel",
        ALL - {"e9-shared-copy"},
    ),
    (
        "colon_in_key",
        "sel:\n    requestParameters.encryptionContext.aws:ebs:id|startswith: vol-\n  condition: sel",
        {"e11-kms-decrypt"},
    ),
    (
        "nested_arrays",
        "sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n  condition: sel",
        {"e4-ingress"},
    ),
    (
        "number_in_array",
        "sel:\n    responseElements.securityGroupRuleSet.items.fromPort: 22\n  condition: sel",
        {"e4-ingress"},
    ),
    ("boolean", "sel:\n    readOnly: true\n  condition: sel", {"e8-describe"}),
    (
        "field_reference",
        "sel:\n    userIdentity.accountId|fieldref: recipientAccountId\n  condition: not sel",
        {"e9-shared-copy"},
    ),
    (
        "or_and_not",
        "a:\n    eventName: ModifySnapshotAttribute\n  b:\n    eventName: CreateVolume\n  c:\n"
        "    requestParameters.size|lt: 10\n  condition: (a or b) and not c",
        {"e1-share", "e2-remove", "e5-bigvol", "e7-two-accounts"},
    ),
]

# What a target cannot express for a construct (a TargetLimitation is required, not a query).
EXPECTED_LIMITS: dict[str, set[str]] = {
    "splunk": {"single_char_wildcard", "field_reference_contains"},
    "elastic-lucene": {
        "regex_ignorecase_flag",
        "numeric_comparison",
        "field_reference",
        "or_and_not",
        "field_reference_contains",
    },
    "elastic-eql": {
        "exists_on_array_leaf",
        "numeric_comparison",
        "all_on_array",
        "any_element_of_array",
        "not_on_array",
        "nested_arrays",
        "number_in_array",
        "or_and_not",
        "field_reference",
        "startswith_on_array",
        "values_or_on_array",
        "negative_number",
        "field_reference_contains",
        "colon_in_key",
    },
    "elastic-esql": {"regex_ignorecase_flag", "field_reference_contains"},
    "sentinel": {"field_reference_contains"},
    "duckdb": set(),
}


@cache
def rules_folder(tmp: Path) -> Path:
    folder = tmp / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, detection, _) in enumerate(CASES):
        (folder / f"{name}.yml").write_text(
            f"title: semantics {name}\nid: 00000000-0000-4000-8000-{index:012d}\nstatus: test\n"
            "logsource:\n  product: aws\n  service: cloudtrail\n"
            f"detection:\n  {detection}\nlevel: low\n",
            encoding="utf-8",
        )
    return folder


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Conversion]]:
    folder = rules_folder(tmp_path_factory.mktemp("semantics"))
    from snaptrail.backends import TARGETS

    return {
        target: {c.title.removeprefix("semantics "): c for c in convert([folder], target)}
        for target in TARGETS
    }


def _query(compiled: dict[str, dict[str, Conversion]], target: str, name: str) -> str:
    conversion = compiled[target][name]
    if name in EXPECTED_LIMITS[target]:
        assert conversion.limitation, f"{target} should refuse {name}, produced: {conversion.query}"
        assert f"target {target}" in str(conversion.error)
        pytest.skip(f"{target} cannot express {name}: {conversion.error}")
    assert conversion.ok, f"{target}: {conversion.error}"
    return str(conversion.query)


def _expect(name: str) -> set[str]:
    return next(expected for case, _, expected in CASES if case == name)


NAMES = [case for case, _, _ in CASES]


@pytest.mark.parametrize("name", NAMES)
def test_duckdb(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    store = CloudTrailStore()
    store.add((key, copy.deepcopy(value)) for key, value in RECORDS.items())
    assert set(store.matching_event_ids(_query(compiled, "duckdb", name))) == _expect(name)


@pytest.mark.parametrize("name", NAMES)
def test_lucene(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    query = _query(compiled, "elastic-lucene", name)
    if name == "cidr":
        # Elasticsearch range-matches CIDR on the `ip`-typed source.ip; the harness indexes keywords only.
        assert query.startswith("source.ip:203.0.113.0\\/24")
        pytest.skip("CIDR on an ip field is not imitated by the Lucene harness (keyword index only)")
    documents = {key: to_ecs_document(value) for key, value in RECORDS.items()}
    result = run_lucene({"q": query}, documents)["q"]
    assert result.error is None, result.error
    assert set(result.matches) == _expect(name)


@pytest.mark.parametrize("name", NAMES)
def test_eql(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    query = _query(compiled, "elastic-eql", name)
    if name in (
        "cased_is_case_sensitive",
        "single_char_wildcard",
        "regex_searches_case_sensitively",
        "regex_anchor",
        "regex_ignorecase_flag",
        "cidr",
    ):
        eql_results(query, [])  # parsed by Elastic's grammar; not executed:
        pytest.skip("the eql Python engine's case and regex semantics differ from Elasticsearch here")
    assert eql_event_ids(query, RECORDS.values()) == _expect(name)


@pytest.mark.parametrize("name", NAMES)
def test_esql_parses(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    import esql
    from esql import ParserConfig, Schema

    query = _query(compiled, "elastic-esql", name)
    with ParserConfig(Schema({"@timestamp": "date", **ecs_field_types()}), min_stack_version="9.5.0"):
        esql.parse_query(query)


@pytest.fixture(scope="module")
def kusto():  # type: ignore[no-untyped-def]
    with KustoChecker() as checker:
        yield checker


@pytest.mark.parametrize("name", NAMES)
def test_kql_binds(compiled: dict[str, dict[str, Conversion]], name: str, kusto) -> None:  # type: ignore[no-untyped-def]
    errors = kusto.errors(_query(compiled, "sentinel", name))
    assert not errors, [f"{e.code}: {e.message}" for e in errors]


@pytest.mark.parametrize("name", NAMES)
def test_kql_executes(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    assert kql_event_ids(_query(compiled, "sentinel", name), RECORDS.values()) == _expect(name)


@pytest.mark.parametrize("name", NAMES)
def test_splunk_converts_or_refuses(compiled: dict[str, dict[str, Conversion]], name: str) -> None:
    query = _query(compiled, "splunk", name)
    assert query.startswith("`snaptrail_cloudtrail` ")
