"""The everyday CloudTrail traffic of a busy AWS estate, as record templates no snaptrail rule is about.

A kind is one API call (eventSource, eventName) with the principals that make it and its share of the
traffic; `render_templates` turns every (kind, principal) of an account and region into one compact
CloudTrail record, serialised once, whose changing parts (eventTime, eventID, requestID, the caller's
address and user agent, the resource named) are `%(name)s` slots: a record is then one `%` format, not a
`json.dumps` (millions of records are made this way). Field names, their order, and the shapes of
userIdentity, tlsDetails, resources and additionalEventData follow the CloudTrail record contents
reference (AWS CloudTrail User Guide, "CloudTrail record contents").

None of these calls is one a rule matches (no snapshot, image, volume, grant, key-pair or ingress call,
no KMS call with an EBS encryption context); the corpus generator proves it on every run (a rendered
sample of every template must raise no alert) rather than trusting this comment.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# fmt: off
# The event tables below are kept one template per line, as a reader scans them.

EVENT_VERSION = "1.11"

# The estate: four accounts, five regions, each with its share of the traffic (a production account
# and a home region carry most of it, as in most estates).
ACCOUNTS: tuple[tuple[str, str, float], ...] = (
    ("201746593018", "prod", 0.45),
    ("318205964271", "data", 0.25),
    ("452918736605", "staging", 0.20),
    ("687310259942", "sandbox", 0.10),
)
REGIONS: tuple[tuple[str, float], ...] = (
    ("us-east-1", 0.50),
    ("eu-west-1", 0.20),
    ("us-west-2", 0.15),
    ("eu-central-1", 0.10),
    ("ap-southeast-2", 0.05),
)
# IAM, sign-in and the global STS endpoint log in us-east-1 only.
GLOBAL_REGION = "us-east-1"


# Slots filled per record. Every value put into a slot is JSON-safe (no quote, backslash or control
# character), so the serialised template stays valid JSON after formatting.
def _slot(name: str) -> str:
    return f"@@{name}@@"


# Filled for every record: time, ids, the session creation time, address, client, a session number.
RECORD_SLOTS = ("t", "id", "rid", "s3rid", "cd", "ip", "ua", "n")
T, ID, RID, S3RID, CD, IP, UA, N = (_slot(n) for n in RECORD_SLOTS)

OFFICE_IPS = ("198.51.100.23", "198.51.100.87", "203.0.113.14", "203.0.113.201")
NAT_IPS = ("52.23.181.4", "3.218.77.102", "34.201.9.66", "54.152.40.12", "18.207.63.19")
CI_IPS = ("140.82.112.5", "185.199.108.40", "4.175.114.51", "20.42.16.98")  # hosted CI runners
PARTNER_IPS = ("54.174.30.119", "3.233.146.210")  # a monitoring vendor's collectors

CLI_AGENTS = (
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off "
    "md/command#ec2.describe-instances",
    "aws-cli/2.15.58 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1022-aws md/arch#x86_64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off",
)
CONSOLE_AGENTS = ("AWS Internal",)
BROWSER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36",
)
SDK_AGENTS = (
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219-208.866.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "aws-sdk-java/2.26.7 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS "
    "Java/21.0.3 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.0",
)
TERRAFORM_AGENTS = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.2 (+https://www.terraform.io) terraform-provider-aws/5.58.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 "
    "md/GOOS#linux md/GOARCH#amd64 api/ec2#1.168.0",
)
LAMBDA_AGENTS = (
    "Boto3/1.34.126 md/Botocore#1.34.126 ua/2.0 os/linux#5.10.216-225.855.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.3 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.126",
)
NODE_AGENTS = ("aws-sdk-go/1.54.6 (go1.22.4; linux; amd64)",)
PARTNER_AGENTS = ("aws-sdk-go/1.53.11 (go1.21.11; linux; amd64) datadog-collector",)


@dataclass(frozen=True)
class Principal:
    """Who calls: their userIdentity (with the CD slot for a session's creation time), where from,
    which client, and whether the session is a console one."""

    cls: str
    identity: dict[str, Any]
    ips: tuple[str, ...]
    agents: tuple[str, ...]
    console: bool = False
    tls: bool = True  # AWS-internal and service callers carry no tlsDetails

    @property
    def arn(self) -> str:
        return str(self.identity.get("arn") or self.identity.get("invokedBy"))


def _assumed_role(account: str, role: str, session: str, key: str, path: str = "/") -> dict[str, Any]:
    role_id = "AROA" + key[4:]
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{account}:role{path}{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": CD, "mfaAuthenticated": "false"},
        },
    }


def _key(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def principals(account: str, name: str) -> list[Principal]:
    """The callers of one account; deterministic per account."""
    rng = random.Random(f"principals/{account}")
    sso_hash = f"{rng.getrandbits(64):016x}"
    people = ("a.moreau", "j.okafor", "l.chen", "m.garcia", "s.patel")
    found: list[Principal] = []
    for person in people:
        for permission in ("ReadOnlyAccess", "PowerUserAccess"):
            role = f"AWSReservedSSO_{permission}_{sso_hash}"
            identity = _assumed_role(
                account, role, f"{person}@example.com", _key(rng, "ASIA"),
                "/aws-reserved/sso.amazonaws.com/",
            )  # fmt: skip
            found.append(Principal("human", identity, OFFICE_IPS, CLI_AGENTS))
            found.append(
                Principal("console", identity, ("AWS Internal",), CONSOLE_AGENTS, console=True, tls=False)
            )
    for app in ("orders-api", "ledger-worker", "search-indexer"):
        identity = _assumed_role(account, f"{name}-{app}-task", f"{rng.getrandbits(60):x}", _key(rng, "ASIA"))
        found.append(Principal("app", identity, NAT_IPS, SDK_AGENTS))
    for node in range(3):
        instance = f"i-0{rng.getrandbits(64):016x}"
        role = f"eks-{name}-nodegroup-NodeInstanceRole"
        identity = _assumed_role(account, role, instance, _key(rng, "ASIA"))
        found.append(Principal("node", identity, NAT_IPS[node:] + NAT_IPS[:node], NODE_AGENTS))
    for function in ("billing-export", "tag-reconciler"):
        identity = _assumed_role(account, f"{function}-fn-role", f"{function}-fn", _key(rng, "ASIA"))
        found.append(Principal("lambda", identity, NAT_IPS, LAMBDA_AGENTS))
    session = f"terraform-{rng.getrandbits(40):x}"
    identity = _assumed_role(account, "terraform-deployer", session, _key(rng, "ASIA"))
    found.append(Principal("ci", identity, CI_IPS, TERRAFORM_AGENTS))
    found.append(
        Principal(
            "ci",
            {
                "type": "IAMUser",
                "principalId": "AIDA" + _key(rng, "")[:17],
                "arn": f"arn:aws:iam::{account}:user/ci-deployer",
                "accountId": account,
                "accessKeyId": _key(rng, "AKIA"),
                "userName": "ci-deployer",
            },
            CI_IPS,
            CLI_AGENTS,
        )
    )
    identity = _assumed_role(account, "DatadogIntegrationRole", "DatadogAWSIntegration", _key(rng, "ASIA"))
    found.append(Principal("partner", identity, PARTNER_IPS, PARTNER_AGENTS))
    config = _assumed_role(
        account, "AWSServiceRoleForConfig", "AWSConfig-Describe", _key(rng, "ASIA"),
        "/aws-service-role/config.amazonaws.com/",
    )  # fmt: skip
    config["invokedBy"] = "config.amazonaws.com"
    found.append(Principal("config", config, ("config.amazonaws.com",), ("config.amazonaws.com",), tls=False))
    for service in ("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com"):
        found.append(
            Principal(
                "service", {"type": "AWSService", "invokedBy": service}, (service,), (service,), tls=False
            )
        )
    return found


@dataclass(frozen=True)
class Pools:
    """The resources of one account a record names, each a slot of the same name."""

    values: dict[str, tuple[str, ...]] = field(default_factory=dict)


OBJECT_PREFIXES = (
    ("invoices", "pdf"), ("events/dt=2026-06-01", "parquet"), ("thumbs", "webp"), ("raw", "json.gz"),
    ("models", "bin"),
)


def pools(account: str, name: str) -> Pools:
    rng = random.Random(f"pools/{account}")

    def hexes(prefix: str, count: int) -> tuple[str, ...]:
        return tuple(f"{prefix}-0{rng.getrandbits(64):016x}" for _ in range(count))

    buckets = tuple(f"{name}-{b}-{account}" for b in ("assets", "exports", "logs", "ml-features", "backups"))
    return Pools(
        {
            "inst": hexes("i", 60),
            "vpc": hexes("vpc", 3),
            "sg": hexes("sg", 12),
            "b": buckets,
            "k": tuple(
                f"{p}/{rng.getrandbits(32):08x}/{rng.getrandbits(48):012x}.{ext}"
                for p, ext in OBJECT_PREFIXES
                for _ in range(8)
            ),
            "kms": tuple(f"{rng.getrandbits(128):032x}" for _ in range(4)),
            "fn": ("billing-export", "tag-reconciler", "thumbnailer", "webhook-relay"),
            "par": tuple(
                f"/{name}/{svc}/{key}" for svc in ("orders", "ledger") for key in ("db_url", "feature_flags")
            ),
            "sec": tuple(f"{name}/{svc}/credentials" for svc in ("orders", "ledger", "search")),
            "lg": tuple(f"/aws/lambda/{fn}" for fn in ("billing-export", "tag-reconciler", "thumbnailer")),
            "role": tuple(f"{name}-{app}-task" for app in ("orders-api", "ledger-worker", "search-indexer")),
            "stack": tuple(f"{name}-{s}" for s in ("network", "orders", "observability")),
            "asg": tuple(f"eks-{name}-nodegroup-{i}" for i in range(2)),
            "tg": tuple(f"{name}-{t}-tg/{rng.getrandbits(64):016x}" for t in ("orders", "search")),
        }
    )


@dataclass(frozen=True)
class Kind:
    """One API call of the background and the principal classes that make it."""

    source: str
    name: str
    weight: float
    callers: tuple[str, ...]
    request: Callable[[str, str], dict[str, Any] | None]  # (account, region) -> requestParameters
    response: Callable[[str, str], dict[str, Any] | None] = lambda account, region: None
    read_only: bool = True
    data: bool = False  # a data event (S3 object, Lambda invoke)
    global_service: bool = False
    resources: Callable[[str, str], list[dict[str, Any]]] | None = None
    extra: Callable[[str, str], dict[str, Any]] | None = None  # additionalEventData
    slots: tuple[str, ...] = ()  # pool slots the kind names (filled per record)
    event_type: str = "AwsApiCall"
    error: tuple[str, str] | None = None  # (errorCode, message) of its refused variant


def _none(account: str, region: str) -> None:
    return None


def _s(name: str) -> str:
    return _slot(name)


def _s3_resources(account: str, region: str) -> list[dict[str, Any]]:
    return [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{_s('b')}/{_s('k')}"},
        {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{_s('b')}"},
    ]


def _s3_extra(out: int) -> Callable[[str, str], dict[str, Any]]:
    def extra(account: str, region: str) -> dict[str, Any]:
        return {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0 if out else 48213,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": _s("s3rid") + "/Zr9+vNq1kP0aW3mQf5cT2yLx8oHd",
            "bytesTransferredOut": out,
        }

    return extra


def _s3_object(account: str, region: str) -> dict[str, Any]:
    return {"bucketName": _s("b"), "Host": f"{_s('b')}.s3.{region}.amazonaws.com", "key": _s("k")}


_EC2_DENIED = ("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
_DENIED = ("AccessDenied", "User is not authorized to perform this action")

KINDS: tuple[Kind, ...] = (
    Kind("sts.amazonaws.com", "AssumeRole", 9.0, ("service", "app", "ci", "partner"),
         lambda a, r: {"roleArn": f"arn:aws:iam::{a}:role/{_s('role')}",
                       "roleSessionName": f"botocore-session-{_s('n')}", "durationSeconds": 3600},
         lambda a, r: {"credentials": {"accessKeyId": f"ASIA{_s('s3rid')}", "sessionToken": "<redacted>",
                                       "expiration": "Jun 1, 2026, 1:00:00 PM"},
                       "assumedRoleUser": {"assumedRoleId": f"AROA{_s('s3rid')}:botocore-session-{_s('n')}",
                                           "arn": f"arn:aws:sts::{a}:assumed-role/{_s('role')}/"
                                                  f"botocore-session-{_s('n')}"}},
         slots=("role",), error=_DENIED),
    Kind("sts.amazonaws.com", "GetCallerIdentity", 2.0, ("human", "app", "ci", "node"), _none),
    Kind("kms.amazonaws.com", "Decrypt", 8.0, ("app", "lambda", "node"),
         lambda a, r: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                       "encryptionContext": {
                           "SecretARN": f"arn:aws:secretsmanager:{r}:{a}:secret:{_s('sec')}"}},
         resources=lambda a, r: [{"accountId": a, "type": "AWS::KMS::Key",
                                  "ARN": f"arn:aws:kms:{r}:{a}:key/{_s('kms')}"}],
         slots=("sec", "kms")),
    Kind("kms.amazonaws.com", "GenerateDataKey", 6.0, ("app", "lambda"),
         lambda a, r: {"keyId": f"arn:aws:kms:{r}:{a}:key/{_s('kms')}", "keySpec": "AES_256",
                       "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{_s('b')}/{_s('k')}"}},
         resources=lambda a, r: [{"accountId": a, "type": "AWS::KMS::Key",
                                  "ARN": f"arn:aws:kms:{r}:{a}:key/{_s('kms')}"}],
         slots=("kms", "b", "k")),
    Kind("s3.amazonaws.com", "GetObject", 14.0, ("app", "lambda", "node", "partner"), _s3_object,
         data=True, resources=_s3_resources, extra=_s3_extra(18734), slots=("b", "k"), error=_DENIED),
    Kind("s3.amazonaws.com", "PutObject", 6.0, ("app", "lambda", "node"), _s3_object,
         read_only=False, data=True, resources=_s3_resources, extra=_s3_extra(0), slots=("b", "k")),
    Kind("s3.amazonaws.com", "HeadObject", 4.0, ("app", "lambda"), _s3_object,
         data=True, resources=_s3_resources, extra=_s3_extra(0), slots=("b", "k")),
    Kind("s3.amazonaws.com", "ListBuckets", 1.0, ("human", "console", "partner", "config"),
         lambda a, r: {"Host": f"s3.{r}.amazonaws.com"}),
    Kind("s3.amazonaws.com", "GetBucketLocation", 1.5, ("partner", "config", "app"),
         lambda a, r: {"bucketName": _s("b"), "Host": f"{_s('b')}.s3.{r}.amazonaws.com", "location": ""},
         slots=("b",)),
    Kind("s3.amazonaws.com", "GetBucketAcl", 0.8, ("config", "partner"),
         lambda a, r: {"bucketName": _s("b"), "Host": f"{_s('b')}.s3.{r}.amazonaws.com", "acl": ""},
         slots=("b",)),
    Kind("ec2.amazonaws.com", "DescribeInstances", 6.0,
         ("human", "console", "partner", "config", "ci", "node"),
         lambda a, r: {"instancesSet": {"items": [{"instanceId": _s("inst")}]}, "filterSet": {}},
         slots=("inst",), error=_EC2_DENIED),
    Kind("ec2.amazonaws.com", "DescribeInstanceStatus", 2.0, ("partner", "node"),
         lambda a, r: {"instancesSet": {}, "filterSet": {}, "includeAllInstances": True}),
    Kind("ec2.amazonaws.com", "DescribeVolumes", 2.0, ("partner", "config", "node", "console"),
         lambda a, r: {"volumeSet": {}, "filterSet": {"items": [
             {"name": "attachment.instance-id", "valueSet": {"items": [{"value": _s("inst")}]}}]}},
         slots=("inst",)),
    Kind("ec2.amazonaws.com", "DescribeSnapshots", 0.6, ("partner", "config", "console", "human"),
         lambda a, r: {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "sharedUsersSet": {},
                       "filterSet": {}}),
    Kind("ec2.amazonaws.com", "DescribeSecurityGroups", 1.5, ("console", "config", "ci", "human"),
         lambda a, r: {"securityGroupSet": {"items": [{"groupId": _s("sg")}]}, "securityGroupIdSet": {},
                       "filterSet": {}}, slots=("sg",)),
    Kind("ec2.amazonaws.com", "DescribeSubnets", 1.0, ("ci", "node", "config"),
         lambda a, r: {"subnetSet": {}, "filterSet": {"items": [
             {"name": "vpc-id", "valueSet": {"items": [{"value": _s("vpc")}]}}]}},
         slots=("vpc",)),
    Kind("ec2.amazonaws.com", "DescribeNetworkInterfaces", 2.0, ("node", "service", "config"),
         lambda a, r: {"networkInterfaceIdSet": {}, "filterSet": {"items": [
             {"name": "attachment.instance-id", "valueSet": {"items": [{"value": _s("inst")}]}}]}},
         slots=("inst",)),
    Kind("ec2.amazonaws.com", "DescribeTags", 1.0, ("node", "partner"),
         lambda a, r: {"filterSet": {"items": [{"name": "resource-id",
                                                "valueSet": {"items": [{"value": _s("inst")}]}}]}},
         slots=("inst",)),
    Kind("ec2.amazonaws.com", "DescribeRegions", 0.5, ("console", "partner"),
         lambda a, r: {"regionSet": {}, "allRegions": False}),
    Kind("ec2.amazonaws.com", "CreateTags", 0.3, ("ci",),
         lambda a, r: {"resourcesSet": {"items": [{"resourceId": _s("inst")}]},
                       "tagSet": {"items": [{"key": "team", "value": "platform"}]}},
         lambda a, r: {"requestId": _s("rid"), "_return": True}, read_only=False, slots=("inst",)),
    Kind("monitoring.amazonaws.com", "GetMetricData", 5.0, ("partner", "console"),
         lambda a, r: {"metricDataQueries": [{"id": "m1", "metricStat": {"metric": {
             "namespace": "AWS/EC2", "metricName": "CPUUtilization",
             "dimensions": [{"name": "InstanceId", "value": _s("inst")}]}, "period": 300, "stat": "Average"},
             "returnData": True}],
             "startTime": "Jun 1, 2026, 10:00:00 AM", "endTime": "Jun 1, 2026, 10:05:00 AM"},
         slots=("inst",)),
    Kind("monitoring.amazonaws.com", "DescribeAlarms", 1.0, ("partner", "console"),
         lambda a, r: {"maxRecords": 100}),
    Kind("logs.amazonaws.com", "CreateLogStream", 1.5, ("lambda", "service"),
         lambda a, r: {"logGroupName": _s("lg"), "logStreamName": "2026/06/01/[$LATEST]" + _s("s3rid")},
         read_only=False, slots=("lg",)),
    Kind("logs.amazonaws.com", "DescribeLogStreams", 0.8, ("console", "human"),
         lambda a, r: {"logGroupName": _s("lg"), "orderBy": "LastEventTime", "descending": True},
         slots=("lg",)),
    Kind("lambda.amazonaws.com", "Invoke", 3.0, ("app", "service"),
         lambda a, r: {"functionName": f"arn:aws:lambda:{r}:{a}:function:{_s('fn')}", "sourceArn": None},
         data=True, read_only=False,
         resources=lambda a, r: [{"accountId": a, "type": "AWS::Lambda::Function",
                                  "ARN": f"arn:aws:lambda:{r}:{a}:function:{_s('fn')}"}],
         extra=lambda a, r: {"functionVersion": f"arn:aws:lambda:{r}:{a}:function:{_s('fn')}:$LATEST"},
         slots=("fn",)),
    Kind("lambda.amazonaws.com", "ListFunctions20150331", 0.5, ("console", "partner", "config"),
         lambda a, r: {"functionVersion": "ALL"}),
    Kind("lambda.amazonaws.com", "GetFunction20150331v2", 0.4, ("ci", "console"),
         lambda a, r: {"functionName": _s("fn")}, slots=("fn",)),
    Kind("ssm.amazonaws.com", "GetParameter", 3.0, ("app", "lambda", "node"),
         lambda a, r: {"name": _s("par"), "withDecryption": True}, slots=("par",), error=_DENIED),
    Kind("secretsmanager.amazonaws.com", "GetSecretValue", 2.5, ("app", "lambda"),
         lambda a, r: {"secretId": f"arn:aws:secretsmanager:{r}:{a}:secret:{_s('sec')}"}, slots=("sec",)),
    Kind("ecr.amazonaws.com", "GetAuthorizationToken", 1.5, ("node", "ci"),
         lambda a, r: {"registryIds": [a]}),
    Kind("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth", 1.5, ("node", "partner"),
         lambda a, r: {"targetGroupArn": f"arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/{_s('tg')}"},
         slots=("tg",)),
    Kind("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", 1.0, ("node", "partner"),
         lambda a, r: {"autoScalingGroupNames": [_s("asg")]}, slots=("asg",)),
    Kind("cloudformation.amazonaws.com", "DescribeStacks", 0.8, ("ci", "console"),
         lambda a, r: {"stackName": _s("stack")}, slots=("stack",)),
    Kind("rds.amazonaws.com", "DescribeDBInstances", 0.8, ("partner", "config", "console"),
         lambda a, r: {"maxRecords": 100}),
    Kind("rds.amazonaws.com", "DescribeDBSnapshots", 0.3, ("config", "console"),
         lambda a, r: {"includeShared": False, "includePublic": False}),
    Kind("iam.amazonaws.com", "GetRole", 1.0, ("ci", "config", "console"),
         lambda a, r: {"roleName": _s("role")}, global_service=True, slots=("role",)),
    Kind("iam.amazonaws.com", "ListAttachedRolePolicies", 0.6, ("ci", "config"),
         lambda a, r: {"roleName": _s("role")}, global_service=True, slots=("role",)),
    Kind("iam.amazonaws.com", "ListRoles", 0.3, ("console", "partner"), _none, global_service=True),
    Kind("signin.amazonaws.com", "ConsoleLogin", 0.2, ("console",), _none,
         lambda a, r: {"ConsoleLogin": "Success"}, read_only=False, global_service=True,
         extra=lambda a, r: {"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23",
                             "MobileVersion": "No", "MFAUsed": "Yes"},
         event_type="AwsConsoleSignIn"),
)


def _host(kind: Kind, region: str) -> str:
    service = kind.source.split(".")[0]
    if kind.global_service:
        return f"{service}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def render(kind: Kind, principal: Principal, account: str, region: str, refused: bool = False) -> str:
    """One record of `kind` made by `principal`, serialised compactly with its slots as %(name)s."""
    record: dict[str, Any] = {"eventVersion": EVENT_VERSION, "userIdentity": principal.identity}
    record["eventTime"] = T
    record["eventSource"] = kind.source
    record["eventName"] = kind.name
    record["awsRegion"] = region
    record["sourceIPAddress"] = IP
    record["userAgent"] = UA
    if refused and kind.error:
        record["errorCode"], record["errorMessage"] = kind.error
    record["requestParameters"] = kind.request(account, region)
    record["responseElements"] = None if refused else kind.response(account, region)
    if kind.extra is not None:
        record["additionalEventData"] = kind.extra(account, region)
    record["requestID"] = S3RID if kind.source == "s3.amazonaws.com" else RID
    record["eventID"] = ID
    record["readOnly"] = kind.read_only
    if kind.resources is not None:
        record["resources"] = kind.resources(account, region)
    record["eventType"] = "AwsServiceEvent" if principal.cls == "service" and kind.data else kind.event_type
    record["managementEvent"] = not kind.data
    record["recipientAccountId"] = account
    record["eventCategory"] = "Data" if kind.data else "Management"
    if principal.tls:
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": _host(kind, region),
        }
    if principal.console:
        record["sessionCredentialFromConsole"] = "true"
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False).replace("%", "%%")
    for name in (*RECORD_SLOTS, *kind.slots):
        text = text.replace(_slot(name), f"%({name})s")
    return text


@dataclass
class Stream:
    """Every background template of one account and region, and how to pick one by weight."""

    templates: list[tuple[str, Principal, Kind]]
    cumulative: list[float]
    pools: Pools


def stream(account: str, name: str, region: str, refused_share: float = 0.015) -> Stream:
    callers = principals(account, name)
    templates: list[tuple[str, Principal, Kind]] = []
    weights: list[float] = []
    for kind in KINDS:
        if kind.global_service and region != GLOBAL_REGION:
            continue
        makers = [p for p in callers if p.cls in kind.callers]
        share = kind.weight / len(makers)
        for principal in makers:
            ok_share = share * (1 - refused_share) if kind.error else share
            templates.append((render(kind, principal, account, region), principal, kind))
            weights.append(ok_share)
            if kind.error:
                templates.append((render(kind, principal, account, region, refused=True), principal, kind))
                weights.append(share * refused_share)
    cumulative: list[float] = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return Stream(templates, cumulative, pools(account, name))
