"""dist/elastic/: Elastic Security detection rules for the Kibana Detection Engine import API.

`snaptrail-rules.ndjson` holds one rule object per line, in the shape of Kibana's documented
rule create/import properties (`POST /api/detection_engine/rules/_import`, or Security > Rules >
Import rules), sorted by rule id. `README.md` says how to import it, which settings shaped it,
which rules were left out and why.

Each rule is written in the first language of `elastic.languages` (default EQL, then ES|QL, then
Lucene) that can express it exactly; the query is the compiled query of that target, unchanged.

A value_count chain (distinct values per key) is expressible in none of them: an EQL sequence relates
its events only through equal keys. It is written as Kibana's native form instead, a `threshold` rule
with `threshold.cardinality` over the compiled Lucene query of its step rule(s) (`threshold_rule`).
Its window differs from the chain's: Kibana counts the distinct values of the events of one rule run,
so each run looks back the chain's timespan (`from: now-<timespan>`) every `interval`. That is a fixed
window per run, not a sliding one: a burst that straddles two runs' windows, each holding fewer than
the threshold, raises nothing where the sliding-window targets alert.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationTimespan, SigmaCorrelationType

from snaptrail.attack import attack_data
from snaptrail.backends.chains import build_chain
from snaptrail.backends.elastic import eql_name
from snaptrail.backends.errors import TargetLimitation
from snaptrail.build.context import LEVELS, BuildContext, RuleInfo
from snaptrail.build.ingest_pipeline import (
    COMPONENT_TEMPLATE_FILE,
    PIPELINE_FILE,
    PIPELINE_NAME,
    pipeline_fields,
    write_ingest_pipeline,
)
from snaptrail.build.render import render
from snaptrail.cloudtrail.registry import registry
from snaptrail.config import ElasticLanguage, ElasticSettings

FOLDER = "elastic"
NDJSON = "snaptrail-rules.ndjson"
LICENSE = "Apache-2.0"
ATTACK_FRAMEWORK = "MITRE ATT&CK"


@dataclass(frozen=True)
class Language:
    """How one snaptrail target becomes a Kibana rule type."""

    key: str  # the name used in elastic.languages
    target: str  # snaptrail target
    rule_type: str  # Kibana `type`
    language: str  # Kibana `language`
    takes_index: bool  # ES|QL rules carry their source in FROM; Kibana rejects `index` for them
    label: str


LANGUAGES: dict[ElasticLanguage, Language] = {
    "eql": Language("eql", "elastic-eql", "eql", "eql", True, "EQL"),
    "esql": Language("esql", "elastic-esql", "esql", "esql", False, "ES|QL"),
    "lucene": Language("lucene", "elastic-lucene", "query", "lucene", True, "Lucene"),
}

# Kibana's risk score bands: 0-21 low, 22-47 medium, 48-73 high, 74-100 critical. Each level
# takes the top of its band (the convention of Elastic's own prebuilt rules), so an alert sorts
# above everything of a lower level; informational rules are Kibana "low" with a score in the
# lower half of the low band, below every low rule, since they are plain building blocks.
SEVERITY = {
    "informational": ("low", 10),
    "low": ("low", 21),
    "medium": ("medium", 47),
    "high": ("high", 73),
    "critical": ("critical", 99),
}

_ESQL_FROM = re.compile(r"^from\s+(\S+(?:\s*,\s*\S+)*?)(?:\s+metadata\b|\s*\n|\s*\||$)", re.IGNORECASE)


def schedule(rule: RuleInfo, config: ElasticSettings) -> dict[str, str]:
    """How often a rule runs and how far back it looks; the one place a rule's window is decided.

    Single-event rules run every `interval` over `from`..now. The default window (15 minutes for
    a 5-minute run) overlaps on purpose: Kibana deduplicates alerts per source document, and the
    overlap covers late ingestion when the timestamp override is off. Chains (Sigma correlation
    rules, EQL sequences) look back their whole timespan on top of that window."""
    if rule.window_seconds:
        seconds = (
            int(SigmaCorrelationTimespan(config.lookback.removeprefix("now-")).seconds) + rule.window_seconds
        )
        return {"interval": config.interval, "from": f"now-{seconds}s", "to": "now"}
    return {"interval": config.interval, "from": config.lookback, "to": "now"}


def choose(context: BuildContext, rule: RuleInfo, config: ElasticSettings) -> tuple[Language, str] | None:
    """The first configured language whose target expresses the rule exactly, with its query."""
    for key in config.languages:
        language = LANGUAGES[key]
        query = context.query(language.target, rule.id)
        if query is not None:
            return language, query
    return None


# A threshold rule's query is Lucene (Kibana takes kuery or lucene there); its snaptrail target.
THRESHOLD_LANGUAGE = Language("lucene", "elastic-lucene", "threshold", "lucene", True, "Lucene threshold")


def _keyword_field(sigma_field: str) -> str | None:
    """The single-valued keyword of the stored document (ECS, or the ingest pipeline's snaptrail.*
    keyword) that a threshold rule can group or count by; None for array paths, whose stored values
    are joined into one keyword (or are multivalued) and so are no single value to count."""
    path = registry().resolve(sigma_field)
    if path.has_array:
        return None
    return eql_name(path)


def threshold_rule(
    context: BuildContext, rule: RuleInfo, config: ElasticSettings
) -> tuple[str, dict[str, Any]] | None:
    """A value_count chain as a Kibana threshold rule: (the Lucene query, the `threshold` object), or None
    when the rule is no value_count chain, Lucene is not among `elastic.languages`, a step rule has no
    Lucene query, or a key or the counted field is an array path.

    `threshold.field` is the group-by key, `threshold.cardinality` the distinct count of the chain's
    field (at least the chain's threshold) and `threshold.value` the same number of events, which that
    many distinct values imply. The window is each run's (see the module docstring)."""
    parsed = context.corpus.by_id[rule.id]
    value_count = isinstance(parsed, SigmaCorrelationRule) and parsed.type == SigmaCorrelationType.VALUE_COUNT
    if not value_count or THRESHOLD_LANGUAGE.key not in config.languages:
        return None
    queries = {
        str(reference.rule.id): query
        for reference in parsed.rules
        if (query := context.query(THRESHOLD_LANGUAGE.target, str(reference.rule.id))) is not None
    }
    try:
        chain = build_chain(parsed, THRESHOLD_LANGUAGE.target, queries)
    except TargetLimitation:
        return None
    if chain.kind != "distinct" or chain.value_field is None:
        return None
    if len({step.keys for step in chain.steps}) != 1:
        return None  # Kibana groups every event by the same fields
    keys = [_keyword_field(key) for key in chain.steps[0].keys]
    counted = _keyword_field(chain.value_field)
    if counted is None or any(key is None for key in keys):
        return None
    steps = sorted({step.query for step in chain.steps})
    query = steps[0] if len(steps) == 1 else " OR ".join(f"({step})" for step in steps)
    threshold = {
        "field": keys,
        "value": chain.threshold,
        "cardinality": [{"field": counted, "value": chain.threshold}],
    }
    return query, threshold


def left_out_reason(context: BuildContext, rule: RuleInfo, config: ElasticSettings) -> str:
    reasons = []
    for key in config.languages:
        conversion = context.conversions[LANGUAGES[key].target].get(rule.id)
        why = str(conversion.error) if conversion is not None else "no conversion"
        reasons.append(f"{LANGUAGES[key].label}: {why}")
    return "; ".join(reasons)


def threat(rule: RuleInfo) -> list[dict[str, Any]]:
    """Kibana `threat` entries: one per tactic, with the rule's techniques of that tactic;
    a sub-technique sits under its parent technique. Names come from the pinned ATT&CK data."""
    attack = attack_data()
    tactics = {t.shortname: (t.id, t.name, t.url) for t in rule.tactics}
    for technique in rule.techniques:  # a technique whose tactic the rule does not tag keeps its own
        if not any(short in tactics for short in technique.tactics):
            for short in technique.tactics:
                known = attack["tactics"][short]
                tactics[short] = (
                    known["id"],
                    known["name"],
                    f"https://attack.mitre.org/tactics/{known['id']}/",
                )
    entries = []
    for short, (tactic_id, tactic_name, tactic_url) in sorted(tactics.items(), key=lambda item: item[1][0]):
        techniques: dict[str, dict[str, Any]] = {}
        for technique in rule.techniques:
            if short not in technique.tactics:
                continue
            parent_id = technique.id.split(".")[0]
            parent = techniques.setdefault(
                parent_id,
                {
                    "id": parent_id,
                    "name": attack["techniques"].get(parent_id, {}).get("name", technique.name),
                    "reference": f"https://attack.mitre.org/techniques/{parent_id}/",
                },
            )
            if "." in technique.id:
                subs = parent.setdefault("subtechnique", [])
                if all(sub["id"] != technique.id for sub in subs):
                    subs.append({"id": technique.id, "name": technique.name, "reference": technique.url})
                    subs.sort(key=lambda sub: sub["id"])
        entries.append(
            {
                "framework": ATTACK_FRAMEWORK,
                "tactic": {"id": tactic_id, "name": tactic_name, "reference": tactic_url},
                "technique": [techniques[key] for key in sorted(techniques)],
            }
        )
    return entries


def unwrap(text: str) -> str:
    """Sigma descriptions are hard-wrapped YAML blocks; Kibana shows `description` as plain text,
    so join the lines of each paragraph (paragraphs stay separated by a blank line)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)


def version(rule: RuleInfo) -> int:
    """The rule's version: its Sigma `modified` (else `date`) as YYYYMMDD, so an edited rule that
    carries a new date imports as a higher version; 1 when the rule has no date."""
    digits = re.sub(r"\D", "", rule.modified or rule.date)
    return int(digits) if len(digits) == 8 else 1


def tags(rule: RuleInfo, language: Language, context: BuildContext, building_block: bool) -> list[str]:
    found = [
        "Domain: Cloud",
        "Data Source: AWS",
        "Data Source: AWS CloudTrail",
        "Use Case: Threat Detection",
    ]
    found += [f"Tactic: {name}" for name in sorted({entry["tactic"]["name"] for entry in threat(rule)})]
    found += [f"Language: {language.label}", f"Sigma Level: {rule.level}", f"snaptrail family: {rule.family}"]
    if building_block:
        found.append("Rule Type: BBR")
    found += ["snaptrail", f"snaptrail {context.version}"]
    return found


def setup_guide(
    language: Language, query: str, config: ElasticSettings, threshold: dict[str, Any] | None = None
) -> str:
    """The rule's `setup` (build/templates/elastic/setup.md); a JSON string, so no final newline."""
    counted = [entry["field"] for entry in (threshold or {}).get("cardinality", [])]
    grouped = list((threshold or {}).get("field", []))
    return render(
        "elastic/setup.md",
        flattened="aws.cloudtrail.flattened." in query,
        extracted=("snaptrail." in query and language.key == "eql")
        or any(name.startswith("snaptrail.") for name in counted + grouped),
        threshold=threshold,
        pipeline_file=PIPELINE_FILE,
        esql=language.key == "esql",
        field_extract="field_extract(" in query.lower(),
        timestamp_override=config.timestamp_override,
    ).removesuffix("\n")


def note(rule: RuleInfo, language: Language, context: BuildContext) -> str:
    """The triage guide as Markdown, with where the rule came from (build/templates/elastic/note.md)."""
    provenance = context.provenance()
    allowlists = provenance.get("allowlists", {})
    used = ", ".join(f"`{name}` ({len(values)})" for name, values in sorted(allowlists.items())) or "none"
    return render(
        "elastic/note.md",
        rule=rule,
        version=context.version,
        target=language.target,
        config_file=provenance.get("config_file"),
        allowlists=used,
    ).removesuffix("\n")


def rule_object(
    context: BuildContext, rule: RuleInfo, language: Language, query: str, config: ElasticSettings
) -> dict[str, Any]:
    if rule.level not in SEVERITY:
        raise ValueError(f"{rule.path}: level {rule.level!r} is not one of {list(SEVERITY)}")
    severity, risk_score = SEVERITY[rule.level]
    building_block = config.informational_as_building_block and rule.level == "informational"
    document: dict[str, Any] = {
        "rule_id": rule.id,
        "name": rule.title,
        "description": unwrap(rule.description),
        "type": language.rule_type,
        "language": language.language,
        "query": query,
        "risk_score": risk_score,
        "severity": severity,
        "enabled": config.enabled,
        **schedule(rule, config),
        "max_signals": config.max_signals,
        "author": ["snaptrail"],
        "license": LICENSE,
        "version": version(rule),
        "references": list(rule.references),
        "false_positives": list(rule.falsepositives),
        "tags": tags(rule, language, context, building_block),
        "threat": threat(rule),
        "note": note(rule, language, context),
        "setup": setup_guide(language, query, config),
        "exceptions_list": [],
        "actions": [],
        "meta": {
            "snaptrail": {
                "provenance": context.provenance(),
                "sigma_id": rule.id,
                "sigma_level": rule.level,
                "sigma_path": rule.path,
                "sigma_status": rule.status,
                "target": language.target,
            }
        },
    }
    if language.takes_index:
        document["index"] = list(config.index)
    if config.timestamp_override:
        document["timestamp_override"] = config.timestamp_override
    if building_block:
        document["building_block_type"] = "default"
    return document


def kibana_rules(context: BuildContext) -> tuple[list[dict[str, Any]], list[tuple[RuleInfo, str]]]:
    """Every rule Elastic can express, sorted by rule id, and the ones left out with the reason."""
    config = context.config.elastic
    documents, left_out = [], []
    for rule in context.rules:
        chosen = choose(context, rule, config)
        if chosen is None:
            counted = threshold_rule(context, rule, config)
            if counted is None:
                left_out.append((rule, left_out_reason(context, rule, config)))
                continue
            query, threshold = counted
            document = rule_object(context, rule, THRESHOLD_LANGUAGE, query, config)
            document["threshold"] = threshold
            # One run's events are the window (threshold rules count within a single execution).
            document["from"] = f"now-{rule.window_seconds}s"
            document["setup"] = setup_guide(THRESHOLD_LANGUAGE, query, config, threshold)
            documents.append(document)
            continue
        documents.append(rule_object(context, rule, *chosen, config))
    documents.sort(key=lambda d: d["rule_id"])
    left_out.sort(key=lambda item: item[0].id)
    return documents, left_out


def _readme(
    context: BuildContext, documents: list[dict[str, Any]], left_out: list[tuple[RuleInfo, str]]
) -> str:
    """README.md of the package (build/templates/elastic/README.md)."""
    config = context.config.elastic
    by_language: dict[str, int] = {}
    for document in documents:
        by_language[document["language"]] = by_language.get(document["language"], 0) + 1
    esql_sources = sorted(
        {
            source.strip()
            for d in documents
            if d["language"] == "esql" and (match := _ESQL_FROM.match(d["query"]))
            for source in match.group(1).split(",")
        }
    )
    return render(
        "elastic/README.md",
        version=context.version,
        ndjson=NDJSON,
        documents=documents,
        by_language=sorted(by_language.items()),
        settings=config,
        esql_sources=esql_sources,
        levels=[(level, *SEVERITY[level]) for level in LEVELS],
        table=sorted(documents, key=lambda d: (-d["risk_score"], d["name"])),
        left_out=left_out,
        provenance=context.provenance(),
        pipeline_name=PIPELINE_NAME,
        pipeline_file=PIPELINE_FILE,
        component_template_file=COMPONENT_TEMPLATE_FILE,
        extracted_fields=pipeline_fields(),
        uses_extracted=any(
            (d["language"] == "eql" and "snaptrail." in d["query"]) or "threshold" in d for d in documents
        ),
    )


def write_kibana(context: BuildContext, out: Path) -> list[Path]:
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    documents, left_out = kibana_rules(context)
    ndjson = folder / NDJSON
    ndjson.write_text(
        "".join(json.dumps(d, sort_keys=True, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8"
    )
    readme = folder / "README.md"
    readme.write_text(_readme(context, documents, left_out), encoding="utf-8")
    return [ndjson, readme, *write_ingest_pipeline(folder, context.version)]
