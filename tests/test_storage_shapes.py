"""What each SIEM stores for a CloudTrail record: Elastic ECS document, Sentinel row, Splunk fields.

The records below are invented (ids, accounts, times) but follow real CloudTrail shapes. Expected
values are derived by hand from the storage facts (docs/knowledge: Elastic pipeline 2.2/2.3, Sentinel
3.1, Splunk 1.2); Java HashMap key orders come from the published Elastic documents quoted in the
knowledge file (same keys => same order, whatever the values) or from String.hashCode arithmetic
worked out in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snaptrail.verify.storage import to_ecs_document, to_sentinel_row, to_splunk_event
from snaptrail.verify.storage.elastic import java_hashmap_order, java_string_hash, java_to_string

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cloudtrail"

USER_AGENT = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/ec2.op"


def _iam_user() -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEPRINCIPAL1",
        "arn": "arn:aws:iam::111122223333:user/dana",
        "accountId": "111122223333",
        "accessKeyId": "AKIAEXAMPLEKEY000001",
        "userName": "dana",
    }


def _share_snapshot() -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": _iam_user(),
        "eventTime": "2025-03-04T05:06:07Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifySnapshotAttribute",
        "awsRegion": "eu-west-2",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": USER_AGENT,
        "requestParameters": {
            "snapshotId": "snap-0123456789abcdef0",
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": "444455556666"}]}},
        },
        "responseElements": {"requestId": "0f1e2d3c-0000-4000-8000-000000000001", "_return": True},
        "requestID": "0f1e2d3c-0000-4000-8000-000000000001",
        "eventID": "a1b2c3d4-0000-4000-8000-000000000001",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "ec2.eu-west-2.amazonaws.com",
        },
    }


def _share_db_snapshot() -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": _iam_user(),
        "eventTime": "2025-03-04T06:00:00Z",
        "eventSource": "rds.amazonaws.com",
        "eventName": "ModifyDBSnapshotAttribute",
        "awsRegion": "eu-west-2",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": USER_AGENT,
        "requestParameters": {
            "attributeName": "restore",
            "dBSnapshotIdentifier": "orders-db-final",
            "valuesToAdd": ["444455556666", "777788889999"],
        },
        "responseElements": {
            "dBSnapshotIdentifier": "orders-db-final",
            "dBSnapshotAttributes": [
                {"attributeName": "restore", "attributeValues": ["444455556666", "777788889999"]}
            ],
        },
        "requestID": "5a5a5a5a-0000-4000-8000-000000000002",
        "eventID": "a1b2c3d4-0000-4000-8000-000000000002",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }


def _open_ingress() -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "userIdentity": _iam_user(),
        "eventTime": "2025-03-04T07:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "us-west-2",
        "sourceIPAddress": "2001:db8::17",
        "userAgent": USER_AGENT,
        "requestParameters": {
            "groupId": "sg-0aaaabbbbccccdddd",
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 3389,
                        "toPort": 3389,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "192.0.2.0/24"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
        "responseElements": {
            "requestId": "77777777-0000-4000-8000-000000000003",
            "_return": True,
            "securityGroupRuleSet": {
                "items": [
                    {
                        "groupOwnerId": "111122223333",
                        "groupId": "sg-0aaaabbbbccccdddd",
                        "securityGroupRuleId": "sgr-0000000000000000a",
                        "isEgress": False,
                        "ipProtocol": "tcp",
                        "fromPort": 3389,
                        "toPort": 3389,
                        "cidrIpv4": "0.0.0.0/0",
                    }
                ]
            },
        },
        "requestID": "77777777-0000-4000-8000-000000000003",
        "eventID": "a1b2c3d4-0000-4000-8000-000000000003",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }


def _console_call() -> dict[str, Any]:
    # Console session of an assumed role: "AWS Internal" as source and agent, MFA flag as a string.
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEROLEID0001:pat@example.org",
            "arn": "arn:aws:sts::111122223333:assumed-role/Admins/pat@example.org",
            "accountId": "111122223333",
            "accessKeyId": "ASIAEXAMPLEKEY000002",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEROLEID0001",
                    "arn": "arn:aws:iam::111122223333:role/Admins",
                    "accountId": "111122223333",
                    "userName": "Admins",
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": "2025-03-04T07:45:00Z", "mfaAuthenticated": "true"},
            },
        },
        "eventTime": "2025-03-04T08:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifyInstanceAttribute",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": {"instanceId": "i-0123456789abcdef0", "disableApiTermination": {"value": False}},
        "responseElements": {"requestId": "88888888-0000-4000-8000-000000000004", "_return": True},
        "requestID": "88888888-0000-4000-8000-000000000004",
        "eventID": "a1b2c3d4-0000-4000-8000-000000000004",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "sessionCredentialFromConsole": "true",
    }


def _denied_run() -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": _iam_user(),
        "eventTime": "2025-03-04T09:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": "ap-southeast-2",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": USER_AGENT,
        "errorCode": "Client.UnauthorizedOperation",
        "errorMessage": "You are not authorized to perform this operation.",
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-0fedcba9876543210", "minCount": 1, "maxCount": 1}]},
            "instanceType": "t3.micro",
            "blockDeviceMapping": {},
        },
        "responseElements": None,
        "requestID": "99999999-0000-4000-8000-000000000005",
        "eventID": "a1b2c3d4-0000-4000-8000-000000000005",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "resources": [
            {"ARN": "arn:aws:ec2:ap-southeast-2::image/ami-0fedcba9876543210", "type": "AWS::EC2::Image"},
            {"ARN": "arn:aws:ec2:ap-southeast-2::image/ami-0fedcba9876543210", "type": "AWS::EC2::Image"},
            {"accountId": "111122223333", "type": "AWS::EC2::Instance", "ARN": ""},
        ],
    }


# --- Java semantics the Elastic keyword string depends on -----------------------------------------


def test_java_string_hash_matches_java() -> None:
    # Values of String.hashCode() as Java prints them.
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112
    # The classic int32 overflow example: this string hashes to Integer.MIN_VALUE.
    assert java_string_hash("polygenelubricants") == -(2**31)
    # A character outside the BMP counts as two UTF-16 units: 0xD83D * 31 + 0xDE00.
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00


def test_java_hashmap_order_buckets_and_resize() -> None:
    # One-letter keys hash to their code point; 16 buckets use the low 4 bits: "p"=112 -> 0, "a"=97 -> 1.
    assert java_hashmap_order(["a", "p"]) == ["p", "a"]
    # Same hash (2112) -> same bucket -> insertion order.
    assert java_hashmap_order(["BB", "Aa"]) == ["BB", "Aa"]
    assert java_hashmap_order(["Aa", "BB"]) == ["Aa", "BB"]
    # 12 entries stay in 16 buckets (12 is not > 0.75 * 16): "p" still first.
    twelve = ["a", "p", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    assert java_hashmap_order(twelve) == ["p", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    # The 13th entry grows the table to 32 buckets: "p"=112 -> 16 now sorts after "a".."l" (1..12).
    assert java_hashmap_order([*twelve, "l"]) == [*"abcdefghijkl", "p"]


def test_java_to_string_scalars() -> None:
    assert java_to_string(True) == "true"
    assert java_to_string(22) == "22"
    assert java_to_string(1.0) == "1.0"
    assert java_to_string(0.001) == "0.001"
    assert java_to_string(0.0001) == "1.0E-4"
    assert java_to_string(123456.5) == "123456.5"
    assert java_to_string(1e7) == "1.0E7"
    assert java_to_string(12345678.9) == "1.23456789E7"
    assert java_to_string(["a", 1, False]) == "[a, 1, false]"


# --- Elastic -------------------------------------------------------------------------------------


def test_ecs_snapshot_shared_with_account() -> None:
    doc = to_ecs_document(_share_snapshot())
    ct = doc["aws"]["cloudtrail"]
    # Same keys as the Stratus share quoted in the knowledge file (2.3), so the same HashMap order.
    assert ct["request_parameters"] == (
        "{snapshotId=snap-0123456789abcdef0, attributeType=CREATE_VOLUME_PERMISSION, "
        "createVolumePermission={add={items=[{userId=444455556666}]}}}"
    )
    # Published order for these two response keys: _return first.
    assert ct["response_elements"] == "{_return=true, requestId=0f1e2d3c-0000-4000-8000-000000000001}"
    assert ct["flattened"]["request_parameters"] == {
        "snapshotId": "snap-0123456789abcdef0",
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": [{"userId": "444455556666"}]}},
    }
    assert ct["flattened"]["response_elements"] == {
        "requestId": "0f1e2d3c-0000-4000-8000-000000000001",
        "_return": True,
    }
    assert doc["@timestamp"] == "2025-03-04T05:06:07.000Z"
    assert doc["event"] == {
        "action": "ModifySnapshotAttribute",
        "provider": "ec2.amazonaws.com",
        "id": "a1b2c3d4-0000-4000-8000-000000000001",
        "kind": "event",
        "outcome": "success",
    }
    assert doc["cloud"] == {"account": {"id": "111122223333"}, "region": "eu-west-2"}
    assert doc["source"] == {"address": "198.51.100.23", "ip": "198.51.100.23"}
    assert doc["user"] == {"id": "AIDAEXAMPLEPRINCIPAL1", "name": "dana"}
    assert doc["user_agent"] == {"original": USER_AGENT}
    assert ct["read_only"] is False
    assert ct["management_event"] == "true"  # keyword field: the JSON bool becomes a string
    assert ct["event_version"] == "1.09"
    assert ct["event_category"] == "Management"
    assert ct["recipient_account_id"] == "111122223333"
    assert ct["user_identity"] == {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/dana",
        "access_key_id": "AKIAEXAMPLEKEY000001",
    }
    assert doc["tls"] == {
        "version": "1.3",
        "version_protocol": "tls",
        "cipher": "TLS_AES_128_GCM_SHA256",
        "client": {"server_name": "ec2.eu-west-2.amazonaws.com"},
    }
    assert "error_code" not in ct


def test_ecs_rds_snapshot_values_to_add() -> None:
    ct = to_ecs_document(_share_db_snapshot())["aws"]["cloudtrail"]
    # Published: valuesToAdd before attributeName (cluster doc), attributeName before
    # dBSnapshotIdentifier (DB-snapshot doc); lists keep their element order.
    assert ct["request_parameters"] == (
        "{valuesToAdd=[444455556666, 777788889999], attributeName=restore, "
        "dBSnapshotIdentifier=orders-db-final}"
    )
    # Published: dBSnapshotIdentifier before dBSnapshotAttributes; attributeValues before attributeName.
    assert ct["response_elements"] == (
        "{dBSnapshotIdentifier=orders-db-final, "
        "dBSnapshotAttributes=[{attributeValues=[444455556666, 777788889999], attributeName=restore}]}"
    )
    assert ct["flattened"]["request_parameters"]["valuesToAdd"] == ["444455556666", "777788889999"]


def test_ecs_ingress_drops_empty_objects() -> None:
    doc = to_ecs_document(_open_ingress())
    ct = doc["aws"]["cloudtrail"]
    # groups/ipv6Ranges/prefixListIds are {} and vanish; remaining order as in the published ingress doc.
    assert ct["request_parameters"] == (
        "{groupId=sg-0aaaabbbbccccdddd, ipPermissions={items=[{ipRanges={items=[{cidrIp=0.0.0.0/0}, "
        "{cidrIp=192.0.2.0/24}]}, fromPort=3389, toPort=3389, ipProtocol=tcp}]}}"
    )
    assert ct["flattened"]["request_parameters"] == {
        "groupId": "sg-0aaaabbbbccccdddd",
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": "tcp",
                    "fromPort": 3389,
                    "toPort": 3389,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "192.0.2.0/24"}]},
                }
            ]
        },
    }
    # Same eight rule keys as the published ingress doc (minus the ARN, which has its own bucket).
    assert ct["response_elements"] == (
        "{_return=true, requestId=77777777-0000-4000-8000-000000000003, securityGroupRuleSet={items=["
        "{groupOwnerId=111122223333, fromPort=3389, groupId=sg-0aaaabbbbccccdddd, isEgress=false, "
        "toPort=3389, cidrIpv4=0.0.0.0/0, ipProtocol=tcp, securityGroupRuleId=sgr-0000000000000000a}]}}"
    )
    # An IPv6 source parses as an IP.
    assert doc["source"] == {"address": "2001:db8::17", "ip": "2001:db8::17"}


def test_ecs_console_call_assumed_role() -> None:
    doc = to_ecs_document(_console_call())
    # "AWS Internal" is not an address: kept in source.address only.
    assert doc["source"] == {"address": "AWS Internal"}
    assert doc["user_agent"] == {"original": "AWS Internal"}
    # The issuer's userName overwrites (here: is) user.name; the session name stays in the ARN / user.id.
    assert doc["user"] == {"id": "AROAEXAMPLEROLEID0001:pat@example.org", "name": "Admins"}
    session = doc["aws"]["cloudtrail"]["user_identity"]["session_context"]
    assert session == {
        "mfa_authenticated": "true",
        "creation_date": "2025-03-04T07:45:00.000Z",
        "session_issuer": {
            "type": "Role",
            "principal_id": "AROAEXAMPLEROLEID0001",
            "arn": "arn:aws:iam::111122223333:role/Admins",
            "account_id": "111122223333",
        },
    }
    # A JSON false inside the object prints as Java's "false" and stays a bool in the flattened copy.
    flat = doc["aws"]["cloudtrail"]["flattened"]["request_parameters"]
    assert flat["disableApiTermination"] == {"value": False}
    assert "disableApiTermination={value=false}" in doc["aws"]["cloudtrail"]["request_parameters"]


def test_ecs_failed_call() -> None:
    doc = to_ecs_document(_denied_run())
    ct = doc["aws"]["cloudtrail"]
    assert doc["event"]["outcome"] == "failure"
    assert ct["error_code"] == "Client.UnauthorizedOperation"
    assert ct["error_message"] == "You are not authorized to perform this operation."
    # responseElements: null is dropped -> neither the string nor the flattened copy exists.
    assert "response_elements" not in ct
    assert "response_elements" not in ct["flattened"]
    assert "blockDeviceMapping" not in ct["flattened"]["request_parameters"]
    # Resources: de-duplicated lists; the empty ARN of the third resource was dropped.
    assert ct["resources"] == {
        "arn": ["arn:aws:ec2:ap-southeast-2::image/ami-0fedcba9876543210"],
        "type": ["AWS::EC2::Image", "AWS::EC2::Instance"],
        "account_id": ["111122223333"],
    }


def test_ecs_empty_error_code_is_not_a_failure() -> None:
    record = _share_snapshot()
    record["errorCode"] = ""
    record["errorMessage"] = None
    doc = to_ecs_document(record)
    assert doc["event"]["outcome"] == "success"
    assert "error_code" not in doc["aws"]["cloudtrail"]


def test_ecs_does_not_modify_input() -> None:
    record = _open_ingress()
    before = json.dumps(record, sort_keys=True)
    to_ecs_document(record)
    assert json.dumps(record, sort_keys=True) == before


# --- Sentinel ------------------------------------------------------------------------------------


def test_sentinel_row_snapshot_share() -> None:
    row = to_sentinel_row(_share_snapshot())
    assert row["EventName"] == "ModifySnapshotAttribute"
    assert row["EventSource"] == "ec2.amazonaws.com"
    assert row["TimeGenerated"] == "2025-03-04T05:06:07Z"
    assert row["AWSRegion"] == "eu-west-2"
    assert row["UserIdentityArn"] == "arn:aws:iam::111122223333:user/dana"
    assert row["UserIdentityUserName"] == "dana"
    assert row["RequestParameters"] == (
        '{"snapshotId":"snap-0123456789abcdef0","attributeType":"CREATE_VOLUME_PERMISSION",'
        '"createVolumePermission":{"add":{"items":[{"userId":"444455556666"}]}}}'
    )
    assert row["ResponseElements"] == '{"requestId":"0f1e2d3c-0000-4000-8000-000000000001","_return":true}'
    assert row["ReadOnly"] is False
    assert row["ManagementEvent"] is True
    assert row["AwsRequestId_"] == row["AwsRequestId"] == "0f1e2d3c-0000-4000-8000-000000000001"
    assert row["TlsVersion"] == "TLSv1.3"  # Sentinel keeps CloudTrail's own text
    # Absent in the record -> None, never the text "null".
    assert row["ErrorCode"] is None
    assert row["Resources"] is None
    assert row["SessionMfaAuthenticated"] is None
    # Columns without a CloudTrail source are not produced.
    assert "TenantId" not in row and "CidrIp" not in row and "Type" not in row


def test_sentinel_row_console_and_failure() -> None:
    row = to_sentinel_row(_console_call())
    assert row["SourceIpAddress"] == "AWS Internal"
    assert row["SessionMfaAuthenticated"] is True  # CloudTrail wrote the string "true"
    assert row["SessionCreationDate"] == "2025-03-04T07:45:00Z"
    assert row["SessionIssuerUserName"] == "Admins"
    assert row["UserIdentityUserName"] is None
    assert row["EventTypeName"] == "AwsApiCall"
    assert row["Category"] == "Management"

    failed = to_sentinel_row(_denied_run())
    assert failed["ErrorCode"] == "Client.UnauthorizedOperation"
    assert failed["ResponseElements"] is None  # responseElements: null
    # JSON text keeps the record as written, empty objects included (nothing is dropped here).
    assert failed["RequestParameters"] == (
        '{"instancesSet":{"items":[{"imageId":"ami-0fedcba9876543210","minCount":1,"maxCount":1}]},'
        '"instanceType":"t3.micro","blockDeviceMapping":{}}'
    )
    resources = json.loads(str(failed["Resources"]))
    assert resources[2] == {"accountId": "111122223333", "type": "AWS::EC2::Instance", "ARN": ""}


# --- Splunk --------------------------------------------------------------------------------------


def test_splunk_snapshot_share() -> None:
    fields = to_splunk_event(_share_snapshot())
    assert fields["requestParameters.createVolumePermission.add.items{}.userId"] == ["444455556666"]
    assert fields["requestParameters.attributeType"] == ["CREATE_VOLUME_PERMISSION"]
    assert fields["responseElements._return"] == ["true"]
    assert fields["readOnly"] == ["false"]
    assert fields["managementEvent"] == ["true"]
    assert fields["userIdentity.userName"] == ["dana"]
    assert fields["tlsDetails.tlsVersion"] == ["TLSv1.3"]
    # Objects are not fields themselves; only leaves are.
    assert "requestParameters" not in fields
    assert "requestParameters.createVolumePermission.add.items{}" not in fields


def test_splunk_rds_plain_arrays() -> None:
    fields = to_splunk_event(_share_db_snapshot())
    assert fields["requestParameters.valuesToAdd{}"] == ["444455556666", "777788889999"]
    assert fields["responseElements.dBSnapshotAttributes{}.attributeValues{}"] == [
        "444455556666",
        "777788889999",
    ]
    assert fields["responseElements.dBSnapshotAttributes{}.attributeName"] == ["restore"]


def test_splunk_ingress_nested_arrays_and_numbers() -> None:
    fields = to_splunk_event(_open_ingress())
    assert fields["requestParameters.ipPermissions.items{}.ipRanges.items{}.cidrIp"] == [
        "0.0.0.0/0",
        "192.0.2.0/24",
    ]
    assert fields["requestParameters.ipPermissions.items{}.fromPort"] == ["3389"]
    assert fields["responseElements.securityGroupRuleSet.items{}.isEgress"] == ["false"]
    # Empty objects produce no field.
    assert not any(name.endswith((".groups", ".ipv6Ranges", ".prefixListIds")) for name in fields)


def test_splunk_console_and_failure() -> None:
    fields = to_splunk_event(_console_call())
    assert fields["sourceIPAddress"] == ["AWS Internal"]
    assert fields["sessionCredentialFromConsole"] == ["true"]
    assert fields["userIdentity.sessionContext.attributes.mfaAuthenticated"] == ["true"]
    assert fields["userIdentity.sessionContext.sessionIssuer.userName"] == ["Admins"]
    assert fields["requestParameters.disableApiTermination.value"] == ["false"]
    assert not any(name.startswith("userIdentity.sessionContext.webIdFederationData") for name in fields)

    failed = to_splunk_event(_denied_run())
    assert failed["errorCode"] == ["Client.UnauthorizedOperation"]
    assert not any(name.startswith("responseElements") for name in failed)  # null
    assert failed["requestParameters.instancesSet.items{}.minCount"] == ["1"]
    assert failed["resources{}.type"] == ["AWS::EC2::Image", "AWS::EC2::Image", "AWS::EC2::Instance"]
    # Multivalue keeps duplicates. The third resource's empty-string ARN is kept as a value: an
    # assumption of this implementation (only null and empty objects/arrays are known to add nothing).
    assert failed["resources{}.ARN"] == [
        "arn:aws:ec2:ap-southeast-2::image/ami-0fedcba9876543210",
        "arn:aws:ec2:ap-southeast-2::image/ami-0fedcba9876543210",
        "",
    ]
    assert failed["resources{}.accountId"] == ["111122223333"]


# --- Published Elastic documents -----------------------------------------------------------------

# ECS fields this project produces and compares; everything else in the published documents is
# enrichment (geo, user-agent parsing, related.*, entities) or version-dependent (user.name splitting).
_COMPARED = (
    "@timestamp",
    "event.action",
    "event.provider",
    "event.id",
    "event.kind",
    "event.outcome",
    "cloud.account.id",
    "cloud.region",
    "source.address",
    "source.ip",
    "user.id",
    "user_agent.original",
    "tls.version",
    "tls.version_protocol",
    "tls.cipher",
    "tls.client.server_name",
    "aws.cloudtrail",
)

_MISSING = object()


def _dig(document: dict[str, Any], dotted: str) -> Any:
    node: Any = document
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            return _MISSING
        node = node[name]
    return node


def test_matches_published_elastic_documents() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"published reference records not available ({REFERENCE} does not exist)")
    pairs = sorted(REFERENCE.glob("*/*.ecs.json"))
    if not pairs:
        pytest.skip(f"no *.ecs.json documents under {REFERENCE}")
    mismatches = []
    for expected_path in pairs:
        raw_path = expected_path.with_name(expected_path.name.removesuffix(".ecs.json") + ".json")
        if not raw_path.exists():
            continue
        expected = json.loads(expected_path.read_text(encoding="utf-8"))
        produced = to_ecs_document(json.loads(raw_path.read_text(encoding="utf-8")))
        for field in _COMPARED:
            want, got = _dig(expected, field), _dig(produced, field)
            if want != got:
                where = f"{expected_path.parent.name}/{expected_path.name}"
                mismatches.append(f"{where} {field}: {want!r} != {got!r}")
    assert not mismatches, "\n".join(mismatches)
