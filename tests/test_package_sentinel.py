"""The Sentinel package (dist/sentinel/): ARM templates and Azure-Sentinel YAML that match schemas written
from Microsoft's REST specification and rule format, whose queries are the compiled KQL and bind in
Microsoft's Kusto.Language, whose mapped columns exist in AWSCloudTrail, and which are deterministic.
Deliberately broken artifacts must be rejected, so the validation itself can fail."""

from __future__ import annotations

import copy
import dataclasses
import filecmp
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sigma.correlations import SigmaCorrelationTimespan

from snaptrail.build.context import BuildContext, RuleInfo
from snaptrail.build.sentinel import (
    API_VERSION,
    COMBINED_TEMPLATE,
    SEVERITY,
    TACTICS,
    SentinelPackageError,
    alert_rule_properties,
    alert_rule_resource,
    arm_literal,
    rule_guid,
    rule_yaml,
    schedule,
    short_duration,
    write_sentinel,
)
from snaptrail.config import Config, ConfigError, SentinelSettings, iso_duration, load_config, parse_duration
from snaptrail.verify.kusto_checker import DEFAULT_SCHEMA, KustoChecker

from fixture_cases import REPO, RULES

SCHEMAS = REPO / "tests" / "schemas"
ARM_SCHEMA = json.loads((SCHEMAS / "sentinel_arm_template.schema.json").read_text(encoding="utf-8"))
YAML_SCHEMA = json.loads((SCHEMAS / "sentinel_rule_yaml.schema.json").read_text(encoding="utf-8"))
COLUMNS = {c["name"] for c in json.loads(DEFAULT_SCHEMA.read_text(encoding="utf-8"))["columns"]}


# The families whose rules are settled; rules other engineers are still writing stay out of this test.
FAMILIES = ("ebs", "ebs_direct", "rds", "redshift")


def _context() -> BuildContext:
    return BuildContext(
        [RULES / family for family in FAMILIES],
        [REPO / "sigma" / "filters"],
        load_config(REPO / "snaptrail.yml"),
    )


@pytest.fixture(scope="module")
def context() -> BuildContext:
    return _context()


@pytest.fixture(scope="module")
def package(context: BuildContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    write_sentinel(context, out)
    return out / "sentinel"


def _expressed(context: BuildContext) -> list[RuleInfo]:
    return [rule for rule in context.rules if context.query("sentinel", rule.id) is not None]


def _arm(package: Path, rule: RuleInfo) -> dict[str, Any]:
    return json.loads((package / "arm" / f"{rule.name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _yaml(package: Path, rule: RuleInfo) -> dict[str, Any]:
    return yaml.safe_load((package / "yaml" / f"{rule.name}.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# --- what JSON Schema cannot say: the schedule rules of Sentinel's scheduled-rule validation ----------

_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_SHORT = re.compile(r"^(\d+)([mhd])$")


def _duration(text: str) -> timedelta:
    """Independent of the packager's parser: ISO 8601 (PT10M) or the YAML's 10m/1h/1d."""
    if match := _SHORT.match(text):
        return timedelta(minutes=int(match[1]) * {"m": 1, "h": 60, "d": 1440}[match[2]])
    match = _ISO.match(text)
    assert match and text not in ("P", "PT"), text
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def schedule_errors(frequency_text: str, period_text: str) -> list[str]:
    frequency, period = _duration(frequency_text), _duration(period_text)
    errors = []
    for name, value in (("queryFrequency", frequency), ("queryPeriod", period)):
        if not timedelta(minutes=5) <= value <= timedelta(days=14):
            errors.append(f"{name} {value} outside 5 minutes .. 14 days")
    if period < frequency:
        errors.append(f"queryPeriod {period} shorter than queryFrequency {frequency}")
    if period >= timedelta(days=2) and frequency < timedelta(hours=1):
        errors.append("queryPeriod of 2 days or more with queryFrequency under 1 hour")
    return errors


def unescaped_expressions(value: Any, where: str = "properties") -> list[str]:
    """Strings ARM would evaluate as template expressions: starting with `[` but not `[[`."""
    if isinstance(value, str):
        return [where] if value.startswith("[") and not value.startswith("[[") else []
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in unescaped_expressions(item, f"{where}/{i}")]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in unescaped_expressions(item, f"{where}/{key}")]
    return []


def arm_errors(template: dict[str, Any]) -> list[str]:
    errors = _schema_errors(ARM_SCHEMA, template)
    for resource in template.get("resources", []):
        properties = resource.get("properties", {})
        if "queryFrequency" in properties and "queryPeriod" in properties:
            errors += schedule_errors(properties["queryFrequency"], properties["queryPeriod"])
        errors += unescaped_expressions(properties)
    return errors


def yaml_errors(document: dict[str, Any]) -> list[str]:
    errors = _schema_errors(YAML_SCHEMA, document)
    if "queryFrequency" in document and "queryPeriod" in document:
        errors += schedule_errors(str(document["queryFrequency"]), str(document["queryPeriod"]))
    return errors


# --- the package as built ------------------------------------------------------------------------------


def test_the_schemas_are_valid_json_schemas() -> None:
    jsonschema.Draft202012Validator.check_schema(ARM_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(YAML_SCHEMA)


def test_one_template_and_one_yaml_per_expressed_rule(context: BuildContext, package: Path) -> None:
    rules = _expressed(context)
    assert len(rules) >= 18
    assert sorted(p.stem for p in (package / "arm").glob("*.json")) == sorted(r.name for r in rules)
    assert sorted(p.stem for p in (package / "yaml").glob("*.yaml")) == sorted(r.name for r in rules)
    combined = json.loads((package / COMBINED_TEMPLATE).read_text(encoding="utf-8"))
    names = [resource["name"] for resource in combined["resources"]]
    assert len(names) == len(set(names)) == len(rules)
    assert [_arm(package, rule)["resources"][0] for rule in rules] == combined["resources"]


def test_every_template_is_valid(context: BuildContext, package: Path) -> None:
    templates = [*sorted((package / "arm").glob("*.json")), package / COMBINED_TEMPLATE]
    for path in templates:
        template = json.loads(path.read_text(encoding="utf-8"))
        assert arm_errors(template) == [], path.name
        for resource in template["resources"]:
            assert resource["apiVersion"] == API_VERSION
            assert resource["kind"] == "Scheduled"


def test_every_yaml_is_valid(context: BuildContext, package: Path) -> None:
    for rule in _expressed(context):
        document = _yaml(package, rule)
        assert yaml_errors(document) == [], rule.name
        assert document["id"] == rule_guid(rule.id) == rule.id
        text = (package / "yaml" / f"{rule.name}.yaml").read_text(encoding="utf-8")
        assert text.startswith(f"# Microsoft Sentinel analytic rule built by snaptrail {context.version}")
        assert text.rstrip().endswith("kind: Scheduled")


def test_every_query_is_the_compiled_kql(context: BuildContext, package: Path) -> None:
    for rule in _expressed(context):
        compiled = context.query("sentinel", rule.id)
        [resource] = _arm(package, rule)["resources"]
        assert resource["properties"]["query"] == compiled, rule.name
        assert _yaml(package, rule)["query"] == compiled, rule.name
        assert resource["name"].endswith(f"'{rule.id}')]")


@pytest.fixture(scope="module")
def kusto() -> Iterator[KustoChecker]:
    with KustoChecker() as checker:
        yield checker


def test_every_query_binds_in_kusto_language(
    context: BuildContext, package: Path, kusto: KustoChecker
) -> None:
    combined = json.loads((package / COMBINED_TEMPLATE).read_text(encoding="utf-8"))
    queries = {resource["properties"]["query"] for resource in combined["resources"]}
    assert len(queries) == len(_expressed(context))
    for query in sorted(queries):
        assert kusto.errors(query) == [], query


def _columns_named(properties: dict[str, Any]) -> set[str]:
    """Every query column a rule's entity mappings, custom details and alert overrides name."""
    mapped = {f["columnName"] for m in properties["entityMappings"] for f in m["fieldMappings"]}
    override = properties["alertDetailsOverride"]
    placeholders = {p for text in override.values() for p in re.findall(r"\{\{([^{}]*)\}\}", text)}
    return mapped | set(properties["customDetails"].values()) | placeholders


def test_mapped_columns_are_awscloudtrail_columns(context: BuildContext, package: Path) -> None:
    for rule in _expressed(context):
        properties = _arm(package, rule)["resources"][0]["properties"]
        document = _yaml(package, rule)
        for mappings in (properties["entityMappings"], document["entityMappings"]):
            columns = {f["columnName"] for m in mappings for f in m["fieldMappings"]}
            assert columns <= COLUMNS, (rule.name, columns - COLUMNS)
        for details in (properties["customDetails"], document["customDetails"]):
            assert set(details.values()) <= COLUMNS, rule.name
        for override in (properties["alertDetailsOverride"], document["alertDetailsOverride"]):
            placeholders = {p for text in override.values() for p in re.findall(r"\{\{([^{}]*)\}\}", text)}
            assert placeholders and placeholders <= COLUMNS, rule.name
        grouping = properties["incidentConfiguration"]["groupingConfiguration"]
        assert set(grouping["groupByEntities"]) <= {m["entityType"] for m in properties["entityMappings"]}
        assert set(grouping["groupByCustomDetails"]) <= set(properties["customDetails"])


# --- chains: their own columns, incident grouping, and the entities they share with their steps ----------

# The families above plus the chains built on them (and the mount rules the mount chains need).
CHAIN_FAMILIES = (*FAMILIES, "mount", "chains")


@pytest.fixture(scope="module")
def chain_context() -> BuildContext:
    return BuildContext(
        [RULES / family for family in CHAIN_FAMILIES],
        [REPO / "sigma" / "filters"],
        load_config(REPO / "snaptrail.yml"),
    )


@pytest.fixture(scope="module")
def chain_package(chain_context: BuildContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist-chains")
    write_sentinel(chain_context, out)
    return out / "sentinel"


def test_every_column_a_rule_names_is_returned_by_its_query(
    chain_context: BuildContext, chain_package: Path, kusto: KustoChecker
) -> None:
    """Kusto.Language binds `<query> | project <columns>`: a column the query does not return (a chain
    row has AWSCloudTrail's columns plus EventIds and ChainKey) is a binding error."""
    rules = _expressed(chain_context)
    assert sum(rule.is_chain for rule in rules) >= 10
    for rule in rules:
        properties = _arm(chain_package, rule)["resources"][0]["properties"]
        columns = sorted(_columns_named(properties))
        projected = f"{properties['query']}\n| project {', '.join(columns)}"
        assert kusto.errors(projected) == [], (rule.name, columns)
        if not rule.is_chain:
            assert set(columns) <= COLUMNS, rule.name
    # The check can fail: a step's query returns no ChainKey.
    step = next(rule for rule in rules if not rule.is_chain)
    query = _arm(chain_package, step)["resources"][0]["properties"]["query"]
    assert kusto.errors(f"{query}\n| project ChainKey, EventName")


def test_chains_group_by_their_key_and_share_their_steps_entities(
    chain_context: BuildContext, chain_package: Path
) -> None:
    by_id = {rule.id: rule for rule in _expressed(chain_context)}
    chains = [rule for rule in by_id.values() if rule.is_chain]
    for rule in by_id.values():
        properties = _arm(chain_package, rule)["resources"][0]["properties"]
        grouping = properties["incidentConfiguration"]["groupingConfiguration"]
        override = properties["alertDetailsOverride"]
        assert grouping["enabled"] is True and grouping["matchingMethod"] == "Selected"
        assert "{{UserIdentityArn}}" in override["alertDescriptionFormat"], rule.name
        if rule.is_chain:
            assert (grouping["groupByEntities"], grouping["groupByCustomDetails"]) == ([], ["ChainKey"])
            assert properties["customDetails"]["ChainKey"] == "ChainKey"
            assert "{{ChainKey}}" in override["alertDisplayNameFormat"], rule.name
        else:
            assert (grouping["groupByEntities"], grouping["groupByCustomDetails"]) == (["Account"], [])
            assert "ChainKey" not in properties["customDetails"]

    def entities(rule: RuleInfo) -> list[dict[str, Any]]:
        return _arm(chain_package, rule)["resources"][0]["properties"]["entityMappings"]  # type: ignore[no-any-return]

    account = {
        "entityType": "Account",
        "fieldMappings": [{"identifier": "FullName", "columnName": "UserIdentityArn"}],
    }
    for chain in chains:
        assert account in entities(chain), chain.name
        steps = [str(reference.reference) for reference in chain_context.corpus.by_id[chain.id].rules]
        assert steps and all(step in by_id for step in steps), chain.name
        for step in steps:
            assert entities(by_id[step]) == entities(chain), (chain.name, by_id[step].name)


def test_the_readme_says_how_chains_and_steps_become_incidents(chain_package: Path) -> None:
    readme = (chain_package / "README.md").read_text(encoding="utf-8")
    assert "a chain's alerts by the same ChainKey" in readme
    assert "Sentinel groups the alerts of one analytics rule only" in readme


def test_schedule_severity_and_attack(context: BuildContext, package: Path) -> None:
    for rule in _expressed(context):
        properties = _arm(package, rule)["resources"][0]["properties"]
        document = _yaml(package, rule)
        assert _duration(properties["queryFrequency"]) == _duration(document["queryFrequency"])
        assert _duration(properties["queryPeriod"]) == _duration(document["queryPeriod"])
        assert _duration(properties["queryPeriod"]) >= _duration(properties["queryFrequency"])
        assert properties["severity"] == document["severity"] == SEVERITY[rule.level]
        if rule.level == "critical":
            assert properties["severity"] == "High"
            assert "Sentinel has no Critical severity: mapped to High" in properties["description"]
        expected_tactics = list(dict.fromkeys(TACTICS[t.shortname] for t in rule.tactics))
        assert properties["tactics"] == document["tactics"] == expected_tactics
        assert properties["techniques"] == sorted({t.id.split(".")[0] for t in rule.techniques})
        assert document["relevantTechniques"] == sorted(t.id for t in rule.techniques)
        for technique in rule.techniques:
            # Sentinel (and Azure-Sentinel's validation) expect a technique's tactic among the rule's.
            assert {TACTICS[t] for t in technique.tactics} & set(expected_tactics), (rule.name, technique.id)
            if "." in technique.id:
                assert technique.id in properties["description"]


def test_description_carries_triage_and_provenance(context: BuildContext, package: Path) -> None:
    for rule in _expressed(context):
        template = _arm(package, rule)
        text = template["resources"][0]["properties"]["description"]
        assert rule.triage.splitlines()[0] in text and f"snaptrail {context.version}" in text
        assert rule.id in text and _yaml(package, rule)["description"] == text
        assert template["metadata"]["snaptrail"] == json.loads(json.dumps(context.provenance()))
        assert template["metadata"]["sentinel_settings"]["api_version"] == API_VERSION


def test_rules_are_disabled_by_default_and_incidents_follow_the_level(
    context: BuildContext, package: Path
) -> None:
    levels = set()
    for rule in _expressed(context):
        properties = _arm(package, rule)["resources"][0]["properties"]
        assert properties["enabled"] is False
        assert properties["incidentConfiguration"]["createIncident"] is (rule.level != "informational")
        levels.add(rule.level)
    assert {"informational", "critical"} <= levels


def test_readme_says_how_to_deploy_and_what_was_left_out(context: BuildContext, package: Path) -> None:
    readme = (package / "README.md").read_text(encoding="utf-8")
    assert f"--template-file {COMBINED_TEMPLATE} --parameters workspace=<workspace name>" in readme
    assert "Configuration > Analytics > Import" in readme and API_VERSION in readme
    assert "critical maps to High" in readme and f"snaptrail {context.version}" in readme
    assert "## Rules left out" in readme
    for rule in _expressed(context):
        assert f"`{rule.name}`" in readme


def test_two_builds_are_byte_identical(package: Path, tmp_path: Path) -> None:
    write_sentinel(_context(), tmp_path)
    again = tmp_path / "sentinel"
    files = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(package, again, files, shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_a_rule_the_target_cannot_express_is_left_out_and_listed(
    context: BuildContext, tmp_path: Path
) -> None:
    limited = BuildContext(context.rule_paths, context.filter_paths, context.config)
    rule = _expressed(context)[0]
    reason = "field requestParameters.x is not supported on target sentinel (test)"
    # The corpus compiles each target once and keeps the table: this context's own corpus is changed.
    table = limited.corpus.compiled("sentinel")
    table[rule.id] = dataclasses.replace(table[rule.id], query=None, error=reason, limitation=True)
    assert limited.query("sentinel", rule.id) is None
    write_sentinel(limited, tmp_path)
    root = tmp_path / "sentinel"
    assert not (root / "arm" / f"{rule.name}.json").exists()
    assert not (root / "yaml" / f"{rule.name}.yaml").exists()
    combined = json.loads((root / COMBINED_TEMPLATE).read_text(encoding="utf-8"))
    assert all(rule.id not in resource["name"] for resource in combined["resources"])
    left_out = (root / "README.md").read_text(encoding="utf-8").split("## Rules left out", 1)[1]
    assert f"`{rule.name}`" in left_out and reason in left_out


# --- settings and the schedule function -----------------------------------------------------------------


def _settings(section: dict[str, Any]) -> SentinelSettings:
    return Config.from_mapping({"sentinel": section}).sentinel


def test_settings_from_config(context: BuildContext) -> None:
    assert _settings({}) == SentinelSettings() == context.config.sentinel
    settings = _settings({"enabled": True, "query_frequency": "15m", "query_period": "PT1H"})
    rule = _expressed(context)[0]
    properties = alert_rule_properties(rule, "AWSCloudTrail", settings, context.version)
    assert properties["enabled"] is True
    assert (properties["queryFrequency"], properties["queryPeriod"]) == ("PT15M", "PT1H")
    suppressed = _settings({"suppression_duration": "1h", "incident_min_level": "informational"})
    properties = alert_rule_properties(rule, "AWSCloudTrail", suppressed, context.version)
    assert (properties["suppressionEnabled"], properties["suppressionDuration"]) == (True, "PT1H")
    assert properties["incidentConfiguration"]["createIncident"] is True


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"enable": True}, "enable: unknown key; did you mean 'enabled'?"),  # misspelt key
        ({"enabled": "yes"}, "enabled: must be true or false"),
        ({"query_frequency": "PT30M", "query_period": "PT15M"}, "query_period: "),  # shorter than frequency
        ({"query_frequency": "PT30M"}, "query_period: "),  # the default period is shorter too
        ({"query_frequency": "PT1M", "query_period": "PT1M"}, "query_frequency: "),  # below 5 minutes
        ({"query_period": "P15D"}, "query_period: "),  # above 14 days
        ({"query_frequency": "PT30M", "query_period": "P2D"}, "query_period: "),  # 2 days: hourly or slower
        ({"query_period": "soon"}, "query_period: "),
        ({"query_period": 15}, "query_period: "),
        ({"suppression_duration": "later"}, "suppression_duration: "),
        ({"incident_min_level": "severe"}, "incident_min_level: "),
        ({"grouping_lookback": "P8D"}, "grouping_lookback: "),
    ],
)
def test_bad_settings_are_rejected(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        _settings(section)
    assert str(error.value).startswith(f"snaptrail.yml: sentinel.{key}"), error.value
    assert "\n" not in str(error.value)


def test_a_chain_reads_its_whole_timespan(context: BuildContext) -> None:
    rule = _expressed(context)[0]

    def chain(timespan: str) -> RuleInfo:
        seconds = int(SigmaCorrelationTimespan(timespan).seconds)
        return dataclasses.replace(rule, correlation_type="temporal", window_seconds=seconds)

    settings = SentinelSettings()
    assert schedule(rule, settings) == (plain := schedule(rule, settings))
    assert (plain.frequency, plain.period) == (timedelta(minutes=10), timedelta(minutes=15))
    hour = schedule(chain("1h"), settings)
    assert (hour.frequency, hour.period) == (timedelta(minutes=10), timedelta(hours=1, minutes=10))
    days = schedule(chain("3d"), settings)
    assert days.frequency == timedelta(hours=1) and days.period == timedelta(days=3, hours=1)
    properties = alert_rule_properties(chain("1h"), "AWSCloudTrail", settings, context.version)
    assert (properties["queryFrequency"], properties["queryPeriod"]) == ("PT10M", "PT1H10M")
    with pytest.raises(SentinelPackageError):
        schedule(chain("14d"), settings)


def test_durations_round_trip() -> None:
    for text, iso, short in [
        ("10m", "PT10M", "10m"),
        ("PT90M", "PT1H30M", "90m"),
        ("1d", "P1D", "1d"),
        ("P2DT1H", "P2DT1H", "49h"),
    ]:
        duration = parse_duration(text)
        assert (iso_duration(duration), short_duration(duration)) == (iso, short)
        assert _duration(iso) == _duration(short) == duration


def test_arm_literal_escapes_expressions(context: BuildContext) -> None:
    assert arm_literal({"a": ["[x]", "y[z]"], "b": 1}) == {"a": ["[[x]", "y[z]"], "b": 1}
    rule = dataclasses.replace(_expressed(context)[0], title="[Snapshots] shared")
    properties = alert_rule_properties(rule, "AWSCloudTrail", SentinelSettings(), context.version)
    resource = alert_rule_resource(rule, properties)
    assert resource["properties"]["displayName"] == "[[Snapshots] shared"
    assert unescaped_expressions(resource["properties"]) == []
    assert rule_yaml(rule, properties, context.version)["name"] == "[Snapshots] shared"


# --- broken artifacts must be rejected ------------------------------------------------------------------


Mutation = Callable[[dict[str, Any]], None]


def _props(template: dict[str, Any]) -> dict[str, Any]:
    return template["resources"][0]["properties"]  # type: ignore[no-any-return]


ARM_BREAKAGES: dict[str, Mutation] = {
    "severity Critical": lambda t: _props(t).update(severity="Critical"),
    "no query": lambda t: _props(t).pop("query"),
    "empty query": lambda t: _props(t).update(query=""),
    "no suppressionDuration": lambda t: _props(t).pop("suppressionDuration"),
    "subTechniques (not in the stable API)": lambda t: _props(t).update(subTechniques=["T1578.001"]),
    "sub-technique in techniques": lambda t: _props(t).update(techniques=["T1578.001"]),
    "ATT&CK shortname as tactic": lambda t: _props(t).update(tactics=["defense-evasion"]),
    "frequency not ISO 8601": lambda t: _props(t).update(queryFrequency="10m"),
    "period shorter than frequency": lambda t: _props(t).update(queryFrequency="PT1H", queryPeriod="PT15M"),
    "2-day period run every 10 minutes": lambda t: _props(t).update(queryPeriod="P2D"),
    "trigger operator gt (YAML spelling)": lambda t: _props(t).update(triggerOperator="gt"),
    "IP identifier on an Account": lambda t: _props(t)["entityMappings"][0]["fieldMappings"][0].update(
        identifier="Address"
    ),
    "unknown entity type": lambda t: _props(t)["entityMappings"][0].update(entityType="AwsResource"),
    "column with a dot": lambda t: _props(t)["entityMappings"][0]["fieldMappings"][0].update(
        columnName="userIdentity.arn"
    ),
    "custom detail key with a space": lambda t: _props(t)["customDetails"].update(
        {"Event Name": "EventName"}
    ),
    "21 custom details": lambda t: _props(t)["customDetails"].update(
        {f"D{i}": "EventName" for i in range(21)}
    ),
    "four placeholders in the alert name": lambda t: _props(t)["alertDetailsOverride"].update(
        alertDisplayNameFormat="{{EventName}} {{UserAgent}} {{AWSRegion}} {{SourceIpAddress}}"
    ),
    "grouping Selected with nothing selected": lambda t: _props(t)["incidentConfiguration"][
        "groupingConfiguration"
    ].update(groupByEntities=[]),
    "resource name without the workspace": lambda t: t["resources"][0].update(name="x"),
    "kind NRT": lambda t: t["resources"][0].update(kind="NRT"),
    "preview API version": lambda t: t["resources"][0].update(apiVersion="2025-07-01-preview"),
    "no workspace parameter": lambda t: t["parameters"].pop("workspace"),
    "unescaped ARM expression in the description": lambda t: _props(t).update(description="[steps] 1. look"),
}


@pytest.mark.parametrize("breakage", sorted(ARM_BREAKAGES))
def test_a_broken_template_is_rejected(context: BuildContext, package: Path, breakage: str) -> None:
    template = _arm(package, _expressed(context)[0])
    assert arm_errors(template) == []
    broken = copy.deepcopy(template)
    ARM_BREAKAGES[breakage](broken)
    assert arm_errors(broken), breakage


YAML_BREAKAGES: dict[str, Mutation] = {
    "severity Critical": lambda d: d.update(severity="Critical"),
    "no query": lambda d: d.pop("query"),
    "no requiredDataConnectors": lambda d: d.pop("requiredDataConnectors"),
    "ISO 8601 frequency": lambda d: d.update(queryFrequency="PT10M"),
    "period shorter than frequency": lambda d: d.update(queryFrequency="1h", queryPeriod="15m"),
    "period beyond 14 days": lambda d: d.update(queryFrequency="1d", queryPeriod="15d"),
    "malformed technique": lambda d: d.update(relevantTechniques=["T1578.1"]),
    "tactic with a space": lambda d: d.update(tactics=["Defense Evasion"]),
    "id not a GUID": lambda d: d.update(id="ebs_snapshot_made_public"),
    "version not a.b.c": lambda d: d.update(version="1"),
    "no entity mappings": lambda d: d.update(entityMappings=[]),
    "kind Fusion": lambda d: d.update(kind="Fusion"),
}


@pytest.mark.parametrize("breakage", sorted(YAML_BREAKAGES))
def test_a_broken_yaml_rule_is_rejected(context: BuildContext, package: Path, breakage: str) -> None:
    document = _yaml(package, _expressed(context)[0])
    assert yaml_errors(document) == []
    broken = copy.deepcopy(document)
    YAML_BREAKAGES[breakage](broken)
    assert yaml_errors(broken), breakage
