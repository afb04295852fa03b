"""`snaptrail.yml`: the one file that makes the build an organisation's own, as one typed model.

It holds the allowlists the Sigma filters in `sigma/filters/` refer to as placeholders
(`%org_account_ids%`), and the SIEM settings the packages are built with. Every setting, its default
and its validation is defined here, once; the packagers read typed attributes (`config.splunk.
cron_schedule`). The whole file is validated by `load_config`, before anything is built or written:
an unknown key, a wrong type or a bad value is a `ConfigError` of one line naming the file and the
key path, e.g. `snaptrail.yml: splunk.cron_schedul: unknown key; did you mean 'cron_schedule'?`.
"""

from __future__ import annotations

import difflib
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from snaptrail.backends.elastic import DEFAULT_INDEX

DEFAULT_PATH = Path("snaptrail.yml")


class ConfigError(Exception):
    pass


class _Strict(BaseModel):
    """No unknown keys (a typo must never silently fall back to a default), no coercion (`"yes"` is not
    true, an unquoted account id is not a string), defaults validated like written values (so a check
    between two keys also runs when one of them is left at its default), immutable once loaded."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


# --- durations and time modifiers, shared by the settings and by the packagers' per-rule windows ----

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RELATIVE = re.compile(r"^-(?P<amount>[1-9][0-9]*)(?P<unit>[smhd])(?:@(?P<snap>[smhd]))?$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_SHORT_DURATION = re.compile(r"^(\d+)([smhd])$")


def relative_offset(value: str) -> tuple[int, int]:
    """(distance from now, snap granularity) in seconds of a Splunk `now` or `-<n><unit>[@<unit>]`."""
    if value == "now":
        return 0, 0
    match = _RELATIVE.match(value)
    if match is None:
        raise ValueError(f"not a relative time modifier like -20m@m or now: {value!r}")
    snap = _UNIT_SECONDS[match["snap"]] if match["snap"] else 0
    return int(match["amount"]) * _UNIT_SECONDS[match["unit"]], snap


def short_seconds(duration: str) -> int:
    """Seconds of a short duration such as `5m` (Kibana's interval, the tail of `now-15m`)."""
    return int(duration[:-1]) * _UNIT_SECONDS[duration[-1]]


def parse_duration(value: object) -> timedelta:
    """ISO 8601 (`PT10M`, `P1DT2H`) or Sigma/KQL short form (`10m`, `2h`, `1d`), whole minutes only."""
    if isinstance(value, timedelta):  # a default written in Python
        duration = value
    elif not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (use e.g. PT10M or 10m)")
    elif match := _ISO_DURATION.match(text := value.strip()):
        if text in ("P", "PT") or text.endswith("T"):
            raise ValueError(f"{value!r} is not a duration")
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    elif match := _SHORT_DURATION.match(text):
        duration = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    else:
        raise ValueError(f"{value!r} is not a duration (use e.g. PT10M or 10m)")
    if duration <= timedelta(0) or duration.total_seconds() % 60:
        raise ValueError(f"{value!r} must be a positive whole number of minutes")
    return duration


def iso_duration(duration: timedelta) -> str:
    """timedelta -> ISO 8601 duration as the Sentinel REST API writes it: PT10M, PT1H, P1D, P2DT1H30M."""
    minutes_total = int(duration.total_seconds()) // 60
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0M"


def short_duration(duration: timedelta) -> str:
    """timedelta -> its short form in the largest unit that divides it exactly: 10m, 1h, 1d, 90s (the
    form of Splunk's alert.suppress.period and of the Azure-Sentinel YAML)."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# A duration in snaptrail.yml: read in either form, held as a timedelta, stated (provenance, artifacts)
# in ISO 8601.
Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(iso_duration, return_type=str)
]


def _duration_or_null(value: object) -> timedelta | None:
    return None if value is None else parse_duration(value)


OptionalDuration = Annotated[
    timedelta | None,
    BeforeValidator(_duration_or_null),
    PlainSerializer(lambda d: iso_duration(d) if d is not None else None, return_type=str | None),
]


# --- allowlists --------------------------------------------------------------------------------------

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


def _account_id(value: object) -> object:
    """An AWS account id is text: YAML reads unquoted digits as a number, and with a leading zero as an
    octal number (011122223333 becomes 1229530843), so a number is refused rather than converted."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError("account_id_number", "an account id must be a quoted string")
    if isinstance(value, str) and not _ACCOUNT_ID.match(value):
        raise ValueError(f"{value!r} is not an AWS account id (exactly 12 digits, quoted)")
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]


# Service-linked roles: IAM creates roles under /aws-service-role/ only for the service they are linked
# to (CreateServiceLinkedRole), and only that service can assume them, so no caller can wear one. That
# reserved path is the only role trust that needs nothing else: aws_service_role_arns must stay in it.
SERVICE_LINKED_ROLE_PATH = ":role/aws-service-role/"
AWS_SERVICE_ROLE_ARNS = [f"arn:aws:iam::*{SERVICE_LINKED_ROLE_PATH}*"]  # GuardDuty Malware Protection, ...

# Roles customers create for a service (any principal with iam:CreateRole can create one of the same
# name): trusted only on calls the service itself made, userIdentity.invokedBy or sourceIPAddress equal
# to its host (each filter in sigma/filters/aws_service_<name>.yml pairs the list with that host).
DLM_ROLE_ARNS = [
    "arn:aws:iam::*:role/AWSDataLifecycleManagerDefaultRole",
    "arn:aws:iam::*:role/service-role/AWSDataLifecycleManagerDefaultRole",
    "arn:aws:iam::*:role/service-role/AWSDataLifecycleManagerDefaultRoleForAMIManagement",
]
BACKUP_ROLE_ARNS = ["arn:aws:iam::*:role/service-role/AWSBackupDefaultServiceRole"]
IMAGE_BUILDER_ROLE_ARNS = ["arn:aws:iam::*:role/EC2ImageBuilderDistributionCrossAccountRole"]

# Accounts AWS services use to read what you share with them, as their documentation lists them:
# GuardDuty Malware Protection for EC2 shares its scan snapshot with the GuardDuty service account of
# the Region ("GuardDuty service accounts by AWS Region"), which creates a volume from it and uses the
# volume's KMS key. Only the owner-side and KMS rules read this list (userIdentity.accountId).
GUARDDUTY_SERVICE_ACCOUNT_IDS = {
    "us-east-1": "652050842985", "us-east-2": "178123968615", "us-west-1": "669213148797",
    "us-west-2": "447226417196", "ap-south-1": "913179291432", "ap-northeast-3": "089661699081",
    "ap-northeast-2": "039163547507", "ap-northeast-1": "874749492622", "ap-southeast-1": "247460962669",
    "ap-southeast-2": "124839743349", "ca-central-1": "175877067165", "ca-west-1": "894794104037",
    "eu-central-1": "002294850712", "eu-west-1": "283769539786", "eu-west-2": "310125036783",
    "eu-west-3": "866607715269", "eu-north-1": "693780578038", "cn-north-1": "448721096076",
    "cn-northwest-1": "480864352451", "sa-east-1": "546914126324", "ap-south-2": "682251015962",
    "ap-southeast-4": "353488359550", "ap-southeast-5": "009160069308", "ap-southeast-7": "941377115582",
    "eu-south-2": "936182149045", "eu-central-2": "867642063380", "il-central-1": "619233833001",
    "eu-south-1": "977238331021", "ap-east-1": "249472122084", "me-south-1": "404001805210",
    "af-south-1": "957664736811", "ap-southeast-3": "452118225523", "me-central-1": "828603743433",
    "mx-central-1": "557690616787", "ap-east-2": "863518437308", "us-gov-east-1": "226283551151",
    "us-gov-west-1": "226300430612",
}  # fmt: skip
AWS_SERVICE_ACCOUNT_IDS = sorted(GUARDDUTY_SERVICE_ACCOUNT_IDS.values())


def _service_linked_only(value: list[str]) -> list[str]:
    outside = [arn for arn in value if SERVICE_LINKED_ROLE_PATH not in arn]
    if outside:
        raise ValueError(
            f"{outside[0]!r} is not under the reserved path /aws-service-role/: a role of any other path "
            "can be created by anyone allowed iam:CreateRole; list it in dlm_role_arns, backup_role_arns "
            "or image_builder_role_arns (trusted only on that service's own calls) or trusted_principal_arns"
        )
    return value


class Allowlists(_Strict):
    """Feed the filters' %placeholders%; an empty list switches its filters off."""

    # AWS's own services acting in your account: filled in by default. (Calls an AWS service makes with
    # its own identity, userIdentity.type AWSService, are excluded by the rules.)
    aws_service_role_arns: Annotated[list[str], AfterValidator(_service_linked_only)] = Field(
        default=AWS_SERVICE_ROLE_ARNS,
        description="ARN patterns of service-linked roles (/aws-service-role/ only), trusted on any call",
    )
    dlm_role_arns: list[str] = Field(
        default=DLM_ROLE_ARNS, description="Data Lifecycle Manager roles, trusted on dlm.amazonaws.com calls"
    )
    backup_role_arns: list[str] = Field(
        default=BACKUP_ROLE_ARNS, description="AWS Backup roles, trusted on backup.amazonaws.com's calls"
    )
    image_builder_role_arns: list[str] = Field(
        default=IMAGE_BUILDER_ROLE_ARNS,
        description="EC2 Image Builder roles, trusted on imagebuilder.amazonaws.com's calls",
    )
    aws_service_account_ids: list[AccountId] = Field(
        default=AWS_SERVICE_ACCOUNT_IDS,
        description="AWS service accounts that read what you share with the service (GuardDuty's)",
    )
    # Your organisation: shipped empty.
    org_account_ids: list[AccountId] = Field(
        default=[], description="your AWS account ids (shares among them are not alerts)"
    )
    trusted_partner_account_ids: list[AccountId] = Field(
        default=[], description="partner accounts you knowingly share with"
    )
    trusted_principal_arns: list[str] = Field(
        default=[], description="ARN patterns of your own backup, DR and scanner roles"
    )
    trusted_backup_vault_arns: list[str] = Field(
        default=[], description="ARN patterns of backup vaults you copy to"
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_lists(cls, data: Any) -> Any:
        # `org_account_ids:` with nothing after it is how YAML users write an empty list.
        return {k: [] if v is None else v for k, v in data.items()} if isinstance(data, dict) else data


ALLOWLISTS = {name: str(field.description) for name, field in Allowlists.model_fields.items()}


# --- Splunk ------------------------------------------------------------------------------------------

_CRON_FIELD = re.compile(r"^[0-9*/,-]+$")


class SplunkSettings(_Strict):
    """`splunk:`: the app's base search and the saved searches' schedule and window."""

    # Definition of the base macro (snaptrail.backends.splunk.BASE_MACRO) every compiled search starts
    # with, where the admin sets the index. Defined here only: the backend emits the macro, not its body.
    base_search: str = "sourcetype=aws:cloudtrail"
    enabled: bool = False  # saved searches installed enabled
    # Splunk Enterprise Security content: every search becomes a correlation search with a risk action,
    # chains also raise notables. Off by default: the keys mean nothing to a Splunk without ES.
    enterprise_security: bool = False
    cron_schedule: str = "*/10 * * * *"
    earliest_time: str = "-20m@m"  # window 15 minutes long, 5 behind real time: late events are read
    latest_time: str = "-5m@m"

    @field_validator("base_search")
    @classmethod
    def _search(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a non-empty search, e.g. index=aws sourcetype=aws:cloudtrail")
        return " ".join(value.split())  # one line in macros.conf

    @field_validator("cron_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"must be a five-field cron expression, not {value.strip()!r}")
        if fields[0] in ("*", "*/1"):
            raise ValueError("must not run every minute (AppInspect flags more than 12 runs an hour)")
        return " ".join(fields)

    @field_validator("earliest_time", "latest_time")
    @classmethod
    def _relative(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        relative_offset(value)
        earliest = info.data.get("earliest_time")
        if info.field_name == "latest_time" and earliest is not None:
            if relative_offset(earliest)[0] <= relative_offset(value)[0]:
                raise ValueError(f"{value} is not later than splunk.earliest_time ({earliest})")
        return value


# --- Elastic -----------------------------------------------------------------------------------------

ElasticLanguage = Literal["eql", "esql", "lucene"]  # in the default order of preference
_DURATION = re.compile(r"^[1-9][0-9]*[smhd]$")
_FROM = re.compile(r"^now-[1-9][0-9]*[smhd]$")
_FIELD = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")


def _one_or_more(value: object) -> object:
    return [value] if isinstance(value, str) else value  # one pattern written as a string


def _field_name_or_null(value: object) -> object:
    if value is not None and (not isinstance(value, str) or not _FIELD.match(value)):
        raise ValueError(f"must be a field name, or null for @timestamp, not {value!r}")
    return value


class ElasticSettings(_Strict):
    """`elastic:`: the Kibana rules' index patterns, schedule and language order."""

    index: Annotated[list[str], BeforeValidator(_one_or_more)] = [DEFAULT_INDEX]
    enabled: bool = False  # rules imported enabled
    interval: str = "5m"
    lookback: str = Field(default="now-15m", alias="from")  # Kibana `from`; overlap is deduplicated
    max_signals: int = 100
    # Selecting events by ingest time covers CloudTrail's delivery delay.
    timestamp_override: Annotated[str | None, BeforeValidator(_field_name_or_null)] = "event.ingested"
    languages: list[ElasticLanguage] = list(get_args(ElasticLanguage))
    informational_as_building_block: bool = True

    @field_validator("index")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        if not value or not all(value):
            raise ValueError("must be a non-empty list of index patterns")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"must be a duration like 5m, not {value!r}")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str, info: ValidationInfo) -> str:
        if not _FROM.match(value):
            raise ValueError(f"must be date math like now-15m, not {value!r}")
        interval = info.data.get("interval")
        if interval is not None and short_seconds(value.removeprefix("now-")) < short_seconds(interval):
            raise ValueError(f"{value} is shorter than elastic.interval ({interval}): runs would skip events")
        return value

    @field_validator("max_signals")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be a positive integer, not {value}")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"must be a list drawn from {list(get_args(ElasticLanguage))} without repeats")
        return value


# --- Sentinel ----------------------------------------------------------------------------------------

# Sentinel's limits for scheduled rules (Azure-Sentinel's ScheduledTemplateInternalModel validation and
# "Create analytics rules for Microsoft Sentinel solutions").
MIN_SCHEDULE = timedelta(minutes=5)
MAX_SCHEDULE = timedelta(days=14)
LONG_PERIOD = timedelta(days=2)  # a period of 2 days or more needs a frequency of at least 1 hour
LONG_PERIOD_MIN_FREQUENCY = timedelta(hours=1)
MAX_GROUPING_LOOKBACK = timedelta(days=7)


def sentinel_schedule_problem(
    frequency: timedelta, period: timedelta, names: tuple[str, str] = ("queryFrequency", "queryPeriod")
) -> str | None:
    """What Sentinel would refuse in a rule's queryFrequency/queryPeriod, or None. The settings and
    every rule's own window (a chain reads its timespan on top) are held to the same limits; `names`
    are what the message calls the two (the REST properties, or the keys of snaptrail.yml)."""
    for name, value in zip(names, (frequency, period), strict=True):
        if not MIN_SCHEDULE <= value <= MAX_SCHEDULE:
            return f"{name} {iso_duration(value)} is outside 5 minutes .. 14 days"
    if period < frequency:
        return (
            f"{names[1]} {iso_duration(period)} is shorter than {names[0]} {iso_duration(frequency)}: "
            "events between two runs would never be read"
        )
    if period >= LONG_PERIOD and frequency < LONG_PERIOD_MIN_FREQUENCY:
        return f"a {names[1]} of 2 days or more needs a {names[0]} >= 1 hour"
    return None


class SentinelSettings(_Strict):
    """`sentinel:`: the analytics rules' schedule, suppression and incident creation."""

    enabled: bool = False
    query_frequency: Duration = timedelta(minutes=10)
    query_period: Duration = timedelta(minutes=15)
    suppression_duration: OptionalDuration = None  # None: suppression off
    incident_min_level: str = "low"  # rules below this level raise alerts without incidents
    grouping_lookback: Duration = timedelta(hours=5)

    @field_validator("query_frequency", "query_period")
    @classmethod
    def _schedule(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        if not MIN_SCHEDULE <= value <= MAX_SCHEDULE:
            raise ValueError(f"{iso_duration(value)} is outside 5 minutes .. 14 days")
        frequency = info.data.get("query_frequency")
        if info.field_name == "query_period" and frequency is not None:
            problem = sentinel_schedule_problem(frequency, value, ("query_frequency", "query_period"))
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("incident_min_level")
    @classmethod
    def _level(cls, value: str) -> str:
        # Imported here: snaptrail.corpus imports this module, and LEVELS is defined there once.
        from snaptrail.corpus import LEVELS

        if value not in LEVELS:
            raise ValueError(f"{value!r} is not one of {list(LEVELS)}")
        return value

    @field_validator("grouping_lookback")
    @classmethod
    def _lookback(cls, value: timedelta) -> timedelta:
        if not MIN_SCHEDULE <= value <= MAX_GROUPING_LOOKBACK:
            raise ValueError("must be between 5 minutes and 7 days")
        return value


# --- the file ----------------------------------------------------------------------------------------

SIEM_SECTIONS = ("elastic", "sentinel", "splunk")


class ContentSettings(_Strict):
    """`content:`: a content repository's own rules, filters, fixtures and registry overlays, as paths
    relative to snaptrail.yml. Left out, the commands use the rules in ./sigma/rules when that folder
    exists (a snaptrail checkout), else the rules shipped with snaptrail."""

    rules: list[str] = []
    filters: list[str] = []
    fixtures: list[str] = []
    registry: list[str] = []
    # include: your rules are added to snaptrail's shipped ones; replace: only yours are used.
    shipped_rules: Literal["include", "replace"] = "include"


# --- scan ----------------------------------------------------------------------------------------------

# CloudTrail leaves out request and response elements larger than 100 KB, and its event data stores
# cap an event at 256 KB (1 MB with MaxEventSize Large); records nest about a dozen levels. A record
# beyond the limits is named as unreadable instead of holding the scan's memory or stack.
MAX_RECORD_BYTES = 1024 * 1024
MAX_RECORD_DEPTH = 64


class ScanSettings(_Strict):
    """`scan:`: the limits beyond which a record is named as unreadable and left out."""

    max_record_bytes: int = Field(default=MAX_RECORD_BYTES, ge=1024, description="largest record, in bytes")
    # Python's JSON parser gives up near 1,000 levels whatever the setting.
    max_record_depth: int = Field(default=MAX_RECORD_DEPTH, ge=8, le=900, description="deepest nesting")


class Config(_Strict):
    """snaptrail.yml. Sections left out (or written empty) take every default (built when a Config is,
    not at import: validating the Sentinel defaults reads snaptrail.corpus, which imports this module)."""

    content: ContentSettings = Field(default_factory=ContentSettings)
    allowlists: Allowlists = Field(default_factory=Allowlists)
    splunk: SplunkSettings = Field(default_factory=SplunkSettings)
    elastic: ElasticSettings = Field(default_factory=ElasticSettings)
    sentinel: SentinelSettings = Field(default_factory=SentinelSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    # Where the configuration was read from; not a key of the file.
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `sentinel:` with nothing after it is an empty section, as `sentinel: {}` is.
        return {k: {} if v is None else v for k, v in data.items()} if isinstance(data, dict) else data

    @property
    def path(self) -> Path | None:
        return self._path

    @classmethod
    def from_mapping(cls, data: Any, path: Path | None = None, source: yaml.Node | None = None) -> Config:
        """Validate parsed YAML; a problem is a one-line ConfigError naming the file and the key path.
        `source`, the composed YAML, lets a message quote a value as it was written."""
        name = str(path) if path is not None else DEFAULT_PATH.name
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: configuration must be a YAML mapping of sections")
        try:
            config = cls.model_validate(data)
        except ValidationError as error:
            problems = error.errors(include_url=False)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(f"{name}: {_problem(problems[0], source)}{more}") from None
        config._path = path
        return config

    def placeholders(self) -> dict[str, list[str]]:
        """Values for the filters' %placeholders%; `trusted_account_ids` joins both account lists."""
        values = {name: list(entries) for name, entries in self.allowlists.model_dump().items()}
        values["trusted_account_ids"] = sorted(
            set(self.allowlists.org_account_ids) | set(self.allowlists.trusted_partner_account_ids)
        )
        return values

    def section(self, name: str) -> dict[str, Any]:
        """The keys of one section the file sets explicitly (defaults left out), as YAML values."""
        explicit: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return dict(explicit.get(name, {}))

    def describe(self) -> dict[str, Any]:
        """What shaped the build, for artifact metadata: every allowlist, and the SIEM settings the file
        sets (defaults are stated by each package itself)."""
        return {
            # a name, not a path: builds must not depend on where the checkout lives
            "config_file": self.path.name if self.path else None,
            "allowlists": {k: list(v) for k, v in sorted(self.allowlists.model_dump().items())},
            **{name: self.section(name) for name in SIEM_SECTIONS if self.section(name)},
        }


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config (./snaptrail.yml when no path is given); without a file every
    setting takes its default: organisation lists empty, the AWS service roles allowlisted."""
    if path is None:
        path = DEFAULT_PATH if DEFAULT_PATH.is_file() else None
    if path is None:
        return Config()
    try:
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration ({error.strerror or error})") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"{path}: {where}not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    return Config.from_mapping(data, path, node)


# --- messages ------------------------------------------------------------------------------------


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model a key path leads to (None below a section's own keys)."""
    model: type[BaseModel] = Config
    for part in loc:
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return None
        model = field.annotation
    return model


def _key_path(loc: tuple[int | str, ...]) -> str:
    """('allowlists', 'org_account_ids', 0) -> allowlists.org_account_ids[0]; keys as the file spells
    them (a default checked against another key is reported by field name, e.g. lookback for `from`)."""
    text = ""
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        model = _model_at(loc[:depth])
        field = model.model_fields.get(part) if model is not None else None
        key = field.alias if field is not None and field.alias else part
        text += f".{key}" if text else key
    return text


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model allows at a key path (aliases as written in the file)."""
    model = _model_at(loc)
    return [field.alias or name for name, field in model.model_fields.items()] if model else []


def _written(source: yaml.Node | None, loc: tuple[int | str, ...]) -> str | None:
    """The text of the scalar at `loc` as the file spells it (before YAML typed it)."""
    node = source
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


_TYPE_NAMES = {
    "bool_type": "true or false",
    "string_type": "a string",
    "int_type": "an integer",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _problem(error: ErrorDetails, source: yaml.Node | None) -> str:
    loc = tuple(error["loc"])
    where = _key_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _keys_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
        return f"{where}: unknown {'section' if len(loc) == 1 else 'key'}; {hint}"
    if kind == "account_id_number":
        written = _written(source, loc) or str(error["input"])
        read = "" if written == str(error["input"]) else f" {error['input']}"
        return (
            f"{where}: account id {written} is not quoted, so YAML reads it as the number{read}; "
            f'write it as a string: "{written}"'
        )
    if kind in _TYPE_NAMES:
        return f"{where}: must be {_TYPE_NAMES[kind]}, not {_yaml_value(error['input'])}"
    if kind == "literal_error":
        return f"{where}: {_yaml_value(error['input'])} is not one of {error.get('ctx', {}).get('expected')}"
    if kind == "value_error":
        return f"{where}: {error.get('ctx', {}).get('error', error['msg'])}"
    return f"{where}: {error['msg']}"
