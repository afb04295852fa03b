"""dist/sentinel/: Microsoft Sentinel scheduled analytics rules, one per Sigma rule.

- `arm/<rule>.json`: an ARM template with one alert rule; `snaptrail-analytics-rules.json`: all of
  them in one template. Both deploy with
  `az deployment group create -g <rg> --template-file <file> --parameters workspace=<name>` and import
  through Sentinel's Analytics > Import, which fills in `workspace` itself.
- `yaml/<rule>.yaml`: the same rule in the Azure-Sentinel repository's analytic-rule YAML format.
- `README.md`: how to deploy, the provenance, the schedule and the rules left out (with the reason).

The resource is `Microsoft.OperationalInsights/workspaces/providers/alertRules` (the form Sentinel's own
export writes), kind `Scheduled`, at the stable REST API version `API_VERSION`. Its rule id is the
Sigma rule id, so a redeploy updates the rule instead of adding a second one. The query is the compiled
KQL, unchanged: it returns every AWSCloudTrail column, so the entity mappings and custom details name
AWSCloudTrail columns directly.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from snaptrail.build.context import LEVELS, BuildContext, RuleInfo
from snaptrail.build.render import render
from snaptrail.config import (
    LONG_PERIOD,
    LONG_PERIOD_MIN_FREQUENCY,
    SentinelSettings,
    iso_duration,
    parse_duration,
    sentinel_schedule_problem,
    short_duration,
)

# Stable Microsoft.SecurityInsights REST API version (azure-rest-api-specs, specification/securityinsights/
# resource-manager/Microsoft.SecurityInsights/stable/2024-09-01/AlertRules.json). The stable versions have
# no `subTechniques`: sub-techniques are named in the description and in the YAML's relevantTechniques.
API_VERSION = "2024-09-01"
RESOURCE_TYPE = "Microsoft.OperationalInsights/workspaces/providers/alertRules"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
FOLDER = "sentinel"
COMBINED_TEMPLATE = "snaptrail-analytics-rules.json"

# Sentinel has four severities; snaptrail's `critical` (public exposure, confirmed outside use) maps to High.
SEVERITY = {
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "High",
}

# ATT&CK tactic shortname -> Sentinel AttackTactic enum value (AlertTypes.json of the same API version).
TACTICS = {
    "reconnaissance": "Reconnaissance",
    "resource-development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    "credential-access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "collection": "Collection",
    "exfiltration": "Exfiltration",
    "command-and-control": "CommandAndControl",
    "impact": "Impact",
}

# (entity type, identifier, AWSCloudTrail column). Sentinel has no AWS resource entity (AzureResource
# takes Azure resource ids only), so the AWS service called is mapped as a CloudApplication by name.
ENTITY_MAPPINGS = (
    ("Account", "FullName", "UserIdentityArn"),
    ("IP", "Address", "SourceIpAddress"),
    ("CloudApplication", "Name", "EventSource"),
)
# What a chain query returns besides the AWSCloudTrail row of its last event (snaptrail.backends.sentinel
# ends every chain with `extend EventIds = ..., ChainKey = k`): the ids of its events, in order, and the
# value its steps share (the group-by: a principal ARN, a snapshot id).
CHAIN_KEY_COLUMN = "ChainKey"
CHAIN_EVENTS_COLUMN = "EventIds"
CHAIN_KEY_DETAIL = "ChainKey"  # the alert custom detail that carries CHAIN_KEY_COLUMN

# Incident grouping (Sentinel groups the alerts of one analytics rule, never of two rules): a single-event
# rule's alerts for the same principal go into one incident; a chain's alerts for the same chain key,
# whatever the key is (the principal or the resource). Every rule, chain or step, maps the principal
# to the same Account entity, which is what links a chain's incident to its steps' (the Defender
# portal's correlation engine merges incidents across rules on shared entities).
GROUP_BY_ENTITIES = ("Account",)

# Alert custom detail -> AWSCloudTrail column. Sentinel keeps at most 20 per rule and 2 KB per alert,
# so the large JSON columns (RequestParameters, ResponseElements) stay in the events, not the alert.
CUSTOM_DETAILS = {
    "EventName": "EventName",
    "EventSource": "EventSource",
    "AwsAccount": "RecipientAccountId",
    "AwsRegion": "AWSRegion",
    "PrincipalType": "UserIdentityType",
    "SessionIssuer": "SessionIssuerArn",
    "AccessKeyId": "UserIdentityAccessKeyId",
    "UserAgent": "UserAgent",
    "AwsEventId": "AwsEventId",
}
ALERT_NAME_COLUMNS = ("EventName", "RecipientAccountId")
# The alert's description names who did it, what and from where (AWSCloudTrail columns; a chain's row is
# its last event). Sentinel has no AWS resource entity: a chain's resource is its key, in the name.
ALERT_DESCRIPTION_COLUMNS = ("UserIdentityArn", "EventName", "SourceIpAddress")

# requiredDataConnectors of the YAML: both AWS connectors write the AWSCloudTrail table.
DATA_CONNECTORS = (
    {"connectorId": "AWS", "dataTypes": ["AWSCloudTrail"]},
    {"connectorId": "AWSS3", "dataTypes": ["AWSCloudTrail"]},
)

DESCRIPTION_LIMIT = 5000  # Azure-Sentinel's template validation (AnalyticsTemplateInternalModelBase)
SUPPRESSION_DEFAULT = timedelta(hours=5)  # required even when suppression is off; Sentinel's default

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "snaptrail:sentinel:alert-rule")


class SentinelPackageError(ValueError):
    """A rule that cannot become a valid Sentinel analytics rule (settings are checked in config.py)."""


@dataclass(frozen=True)
class Schedule:
    frequency: timedelta
    period: timedelta


def schedule(rule: RuleInfo, settings: SentinelSettings) -> Schedule:
    """How often the rule runs and how far back it reads: the one place a rule's window is decided.

    A plain rule uses the configured frequency and period. A chain (a Sigma correlation rule, whose
    `correlation.timespan` is its window) reads at least one run interval plus its whole timespan, so a
    chain whose events straddle two runs is still seen; a period of 2 days or more runs at most hourly,
    as Sentinel requires.
    """
    frequency, period = settings.query_frequency, settings.query_period
    if rule.window_seconds:
        span = timedelta(seconds=rule.window_seconds)
        period = max(period, frequency + span)
        if period >= LONG_PERIOD:
            frequency = max(frequency, LONG_PERIOD_MIN_FREQUENCY)
            period = max(period, frequency + span)
    problem = sentinel_schedule_problem(frequency, period)
    if problem:
        raise SentinelPackageError(f"{rule.path} ({rule.id}): {problem}")
    return Schedule(frequency, period)


def rule_guid(rule_id: str) -> str:
    """The alert rule's resource name: the Sigma id when it is a UUID, else a UUID derived from it."""
    try:
        return str(uuid.UUID(rule_id))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, rule_id))


def _version_parts(version: str, count: int) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", version.split("+")[0])][:count]
    return ".".join(str(n) for n in numbers + [0] * (count - len(numbers)))


def tactics(rule: RuleInfo) -> list[str]:
    names: list[str] = []
    for tactic in rule.tactics:
        if tactic.shortname not in TACTICS:
            raise SentinelPackageError(
                f"{rule.path}: ATT&CK tactic {tactic.shortname!r} has no Sentinel tactic name"
            )
        if TACTICS[tactic.shortname] not in names:
            names.append(TACTICS[tactic.shortname])
    return names


def parent_techniques(rule: RuleInfo) -> list[str]:
    return sorted({technique.id.split(".")[0] for technique in rule.techniques})


def description(rule: RuleInfo, version: str) -> str:
    """What the rule detects, the triage guide, false positives, ATT&CK (incl. sub-techniques, which
    the stable API cannot carry) and where it came from; references are dropped first if too long."""
    attack = "; ".join(
        f"{t.id} {t.name}" + (" (sub-technique of " + t.id.split(".")[0] + ")" if "." in t.id else "")
        for t in rule.techniques
    )
    level = f"snaptrail level: {rule.level}"
    if rule.level == "critical":
        level += " (Sentinel has no Critical severity: mapped to High)"
    head = [rule.description, "", "Triage:", rule.triage]
    if rule.falsepositives:
        head += ["", "False positives:", *(f"- {f}" for f in rule.falsepositives)]
    tail = [
        "",
        f"ATT&CK: {attack}" if attack else "ATT&CK: none",
        level,
        f"Source: snaptrail {version}, Sigma rule {rule.id} ({rule.path}), status {rule.status}.",
    ]
    references = ["References:", *(f"- {r}" for r in rule.references)] if rule.references else []
    for parts in (head + tail + references, head + tail):
        text = "\n".join(parts).strip()
        if len(text) <= DESCRIPTION_LIMIT:
            return text
    raise SentinelPackageError(
        f"{rule.path}: description, triage and false positives exceed {DESCRIPTION_LIMIT} characters"
    )


def _entity_mappings() -> list[dict[str, Any]]:
    return [
        {"entityType": entity, "fieldMappings": [{"identifier": identifier, "columnName": column}]}
        for entity, identifier, column in ENTITY_MAPPINGS
    ]


def _token(column: str) -> str:
    return "{{" + column + "}}"


def _custom_details(rule: RuleInfo) -> dict[str, str]:
    return {**CUSTOM_DETAILS, CHAIN_KEY_DETAIL: CHAIN_KEY_COLUMN} if rule.is_chain else dict(CUSTOM_DETAILS)


def _alert_details_override(rule: RuleInfo) -> dict[str, str]:
    """The alert's name and description from the row that raised it: the principal, the call and its
    source for every rule; the chain key (the resource or principal the steps share) for a chain.
    No alertSeverityColumnName: no query returns a severity, each rule has its level."""
    event, account = ALERT_NAME_COLUMNS
    what = _token(CHAIN_KEY_COLUMN) if rule.is_chain else _token(event)
    principal, call, source = (_token(column) for column in ALERT_DESCRIPTION_COLUMNS)
    lead = ("Last step: " if rule.is_chain else "") + f"{principal} called {call} from {source}."
    summary = " ".join(rule.description.split())
    if "{{" in summary:  # Sentinel would read it as a column placeholder
        raise SentinelPackageError(f"{rule.path}: the description contains '{{{{' (a column placeholder)")
    return {
        "alertDisplayNameFormat": f"{rule.title}: {what} in AWS account {_token(account)}",
        "alertDescriptionFormat": f"{lead} {summary}"[:DESCRIPTION_LIMIT],
    }


def _incident_configuration(rule: RuleInfo, settings: SentinelSettings) -> dict[str, Any]:
    return {
        "createIncident": rule.level_rank >= LEVELS.index(settings.incident_min_level),
        "groupingConfiguration": {
            "enabled": True,
            "reopenClosedIncident": False,
            "lookbackDuration": iso_duration(settings.grouping_lookback),
            "matchingMethod": "Selected",
            "groupByEntities": [] if rule.is_chain else list(GROUP_BY_ENTITIES),
            "groupByAlertDetails": [],
            "groupByCustomDetails": [CHAIN_KEY_DETAIL] if rule.is_chain else [],
        },
    }


def alert_rule_properties(
    rule: RuleInfo, query: str, settings: SentinelSettings, version: str
) -> dict[str, Any]:
    """ScheduledAlertRuleProperties of the REST API for one rule."""
    window = schedule(rule, settings)
    return {
        "displayName": rule.title,
        "description": description(rule, version),
        "severity": SEVERITY[rule.level],
        "enabled": settings.enabled,
        "query": query,
        "queryFrequency": iso_duration(window.frequency),
        "queryPeriod": iso_duration(window.period),
        "triggerOperator": "GreaterThan",
        "triggerThreshold": 0,
        "suppressionEnabled": settings.suppression_duration is not None,
        "suppressionDuration": iso_duration(settings.suppression_duration or SUPPRESSION_DEFAULT),
        "tactics": tactics(rule),
        "techniques": parent_techniques(rule),
        "entityMappings": _entity_mappings(),
        "customDetails": _custom_details(rule),
        "alertDetailsOverride": _alert_details_override(rule),
        "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
        "incidentConfiguration": _incident_configuration(rule, settings),
    }


def arm_literal(value: Any) -> Any:
    """ARM evaluates a string that starts with `[` as a template expression; `[[` keeps it literal."""
    if isinstance(value, str):
        return "[" + value if value.startswith("[") else value
    if isinstance(value, list):
        return [arm_literal(item) for item in value]
    if isinstance(value, dict):
        return {key: arm_literal(item) for key, item in value.items()}
    return value


def alert_rule_resource(rule: RuleInfo, properties: dict[str, Any]) -> dict[str, Any]:
    """The template resource: named after the workspace and the rule's GUID, texts kept literal."""
    return {
        "type": RESOURCE_TYPE,
        "apiVersion": API_VERSION,
        "name": f"[concat(parameters('workspace'),'/Microsoft.SecurityInsights/','{rule_guid(rule.id)}')]",
        "kind": "Scheduled",
        "properties": arm_literal(properties),
    }


def settings_summary(settings: SentinelSettings) -> dict[str, Any]:
    """The Sentinel settings in effect (defaults included), as the artifacts state them."""
    return {**settings.model_dump(mode="json"), "api_version": API_VERSION}


def arm_template(
    context: BuildContext, settings: SentinelSettings, resources: list[dict[str, Any]], what: str
) -> dict[str, Any]:
    return {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": _version_parts(context.version, 4),
        "metadata": {
            "description": f"{what}: Microsoft Sentinel scheduled analytics rules built by snaptrail "
            f"{context.version} from Sigma rules for AWS CloudTrail (table AWSCloudTrail).",
            "snaptrail": context.provenance(),
            "sentinel_settings": settings_summary(settings),
        },
        "parameters": {
            "workspace": {
                "type": "string",
                "metadata": {"description": "Name of the Log Analytics workspace Microsoft Sentinel runs on"},
            }
        },
        "resources": resources,
    }


def rule_yaml(rule: RuleInfo, properties: dict[str, Any], version: str) -> dict[str, Any]:
    """The Azure-Sentinel repository's analytic-rule YAML (Solutions/*/Analytic Rules/*.yaml)."""
    return {
        "id": rule_guid(rule.id),
        "name": properties["displayName"],
        "description": properties["description"],
        "severity": properties["severity"],
        "requiredDataConnectors": [dict(c, dataTypes=list(c["dataTypes"])) for c in DATA_CONNECTORS],
        "queryFrequency": short_duration(parse_duration(properties["queryFrequency"])),
        "queryPeriod": short_duration(parse_duration(properties["queryPeriod"])),
        "triggerOperator": "gt",
        "triggerThreshold": 0,
        "tactics": properties["tactics"],
        "relevantTechniques": sorted({t.id for t in rule.techniques}),
        "query": properties["query"],
        "entityMappings": properties["entityMappings"],
        "customDetails": properties["customDetails"],
        "alertDetailsOverride": properties["alertDetailsOverride"],
        "eventGroupingSettings": properties["eventGroupingSettings"],
        "version": _version_parts(version, 3),
        "kind": "Scheduled",
    }


class _YamlDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_YamlDumper.add_representer(str, _represent_str)


def _yaml_text(
    rule: RuleInfo, document: dict[str, Any], context: BuildContext, settings: SentinelSettings
) -> str:
    header = [
        f"# Microsoft Sentinel analytic rule built by snaptrail {context.version} from {rule.path}",
        f"# (Sigma rule {rule.id}). Do not edit: change the Sigma rule or snaptrail.yml and rebuild.",
        "# provenance: " + json.dumps(context.provenance(), sort_keys=True),
        "# sentinel settings: " + json.dumps(settings_summary(settings), sort_keys=True),
    ]
    body = yaml.dump(document, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, width=1_000_000)
    return "\n".join(header) + "\n" + body


def _json_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_sentinel(context: BuildContext, out: Path) -> list[Path]:
    root = out / FOLDER
    settings = context.config.sentinel
    written: list[Path] = []
    resources: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    left_out: list[tuple[RuleInfo, str]] = []
    seen: dict[str, str] = {}
    for rule in context.rules:
        if rule.name in seen:
            raise SentinelPackageError(
                f"{rule.path}: file name {rule.name!r} is also used by {seen[rule.name]}"
            )
        seen[rule.name] = rule.path
        query = context.query("sentinel", rule.id)
        if query is None:
            conversion = context.conversions["sentinel"].get(rule.id)
            reason = conversion.error if conversion is not None and conversion.error else "no KQL conversion"
            left_out.append((rule, reason))
            continue
        properties = alert_rule_properties(rule, query, settings, context.version)
        resource = alert_rule_resource(rule, properties)
        resources.append(resource)
        arm_path = root / "arm" / f"{rule.name}.json"
        arm_path.parent.mkdir(parents=True, exist_ok=True)
        arm_path.write_text(
            _json_text(arm_template(context, settings, [resource], rule.title)), encoding="utf-8"
        )
        yaml_path = root / "yaml" / f"{rule.name}.yaml"
        yaml_path.parent.mkdir(parents=True, exist_ok=True)
        document = rule_yaml(rule, properties, context.version)
        yaml_path.write_text(_yaml_text(rule, document, context, settings), encoding="utf-8")
        written += [arm_path, yaml_path]
        rows.append({"rule": rule, "properties": properties})
    root.mkdir(parents=True, exist_ok=True)
    combined = root / COMBINED_TEMPLATE
    combined.write_text(_json_text(arm_template(context, settings, resources, "All rules")), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(
        render(
            "sentinel/README.md",
            version=context.version,
            rules=rows,
            left_out=left_out,
            settings=settings,
            settings_summary=settings_summary(settings),
            incident_levels=LEVELS[LEVELS.index(settings.incident_min_level) :],
            custom_details=CUSTOM_DETAILS,
            chain_key_detail=CHAIN_KEY_DETAIL,
            chain_key_column=CHAIN_KEY_COLUMN,
            chain_events_column=CHAIN_EVENTS_COLUMN,
            combined_template=COMBINED_TEMPLATE,
            resource_type=RESOURCE_TYPE,
            api_version=API_VERSION,
            provenance=context.provenance(),
        ),
        encoding="utf-8",
    )
    return [*written, combined, readme]
