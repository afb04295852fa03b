"""dist/elastic/: the Kibana Detection Engine import file validates against the schema written from
Elastic's documented rule properties, carries exactly the compiled queries, parses with Elastic's
own EQL and ES|QL parsers, and is byte-identical across builds."""

from __future__ import annotations

import copy
import filecmp
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from snaptrail.backends.elastic import ecs_field_types
from snaptrail.build.context import BuildContext
from snaptrail.build.ingest_pipeline import COMPONENT_TEMPLATE_FILE, PIPELINE_FILE
from snaptrail.build.kibana import LANGUAGES, NDJSON, SEVERITY, write_kibana
from snaptrail.config import Config, ConfigError, load_config
from snaptrail.verify import harness

from fixture_cases import REPO, RULES, rule_files_by_id

SCHEMA_PATH = REPO / "tests" / "schemas" / "kibana_rule_import.schema.json"
TARGET_OF_LANGUAGE = {language.language: language.target for language in LANGUAGES.values()}


def _context(config: Config | None = None) -> BuildContext:
    return BuildContext([RULES], [REPO / "sigma" / "filters"], config or load_config(REPO / "snaptrail.yml"))


def _with_elastic(settings: dict[str, Any]) -> Config:
    """The shipped snaptrail.yml, its `elastic:` section replaced (validated as load_config does)."""
    data = yaml.safe_load((REPO / "snaptrail.yml").read_text(encoding="utf-8"))
    return Config.from_mapping({**data, "elastic": settings}, Path("snaptrail.yml"))


@cache
def _context_default() -> BuildContext:
    return _context()


def _read(folder: Path) -> list[dict[str, Any]]:
    text = (folder / "elastic" / NDJSON).read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n" not in text
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kibana")
    write_kibana(_context_default(), out)
    return out


@pytest.fixture(scope="module")
def documents(built: Path) -> list[dict[str, Any]]:
    return _read(built)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: jsonschema.Draft202012Validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_every_line_validates(
    documents: list[dict[str, Any]], validator: jsonschema.Draft202012Validator
) -> None:
    assert documents
    for document in documents:
        assert not _errors(validator, document), (document["rule_id"], _errors(validator, document))


def test_rule_ids_are_the_sigma_ids_and_unique(documents: list[dict[str, Any]], built: Path) -> None:
    ids = [d["rule_id"] for d in documents]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)
    sigma = rule_files_by_id()
    context = _context_default()
    titles = {rule.id: rule.title for rule in context.rules}
    for document in documents:
        assert document["rule_id"] in sigma, document["rule_id"]
        assert document["name"] == titles[document["rule_id"]]
    # every rule is either in the package or listed, with its reason, as left out
    readme = (built / "elastic" / "README.md").read_text(encoding="utf-8")
    for rule_id in {rule.id for rule in context.rules} - set(ids):
        assert f"({rule_id}): " in readme


def test_query_is_exactly_the_compiled_query_of_the_preferred_language(
    documents: list[dict[str, Any]],
) -> None:
    context = _context_default()
    order = ["eql", "esql", "lucene"]
    for document in documents:
        if document["type"] == "threshold":  # no language expresses the chain: test_threshold_rules
            assert all(context.query(LANGUAGES[key].target, document["rule_id"]) is None for key in order)
            continue
        target = TARGET_OF_LANGUAGE[document["language"]]
        assert document["query"] == context.query(target, document["rule_id"]), document["rule_id"]
        chosen = next(key for key in order if LANGUAGES[key].target == target)
        for earlier in order[: order.index(chosen)]:
            assert context.query(LANGUAGES[earlier].target, document["rule_id"]) is None, (
                f"{document['rule_id']}: {earlier} expresses the rule but {chosen} was chosen"
            )
        assert document["type"] == LANGUAGES[chosen].rule_type


def test_eql_queries_parse_with_elastic_eql(documents: list[dict[str, Any]]) -> None:
    import eql
    from eql.parser import allow_runs, elasticsearch_syntax, ignore_missing_functions

    queries = [d["query"] for d in documents if d["language"] == "eql"]
    assert queries, "no EQL rule in the package"
    for query in queries:
        with elasticsearch_syntax, ignore_missing_functions, allow_runs:
            eql.parse_query(query)


def test_esql_queries_parse_with_elastic_esql(tmp_path: Path) -> None:
    import esql
    from esql import ParserConfig, Schema

    # EQL now expresses every single-event rule, so the default package has no ES|QL rule: build one
    # that prefers ES|QL.
    write_kibana(_context(_with_elastic({"languages": ["esql", "eql", "lucene"]})), tmp_path)
    queries = [d["query"] for d in _read(tmp_path) if d["language"] == "esql"]
    assert queries, "no ES|QL rule in the package"
    with ParserConfig(Schema({"@timestamp": "date", **ecs_field_types()}), min_stack_version="9.5.0"):
        for query in queries:
            esql.parse_query(query)


def test_two_builds_are_byte_identical(tmp_path: Path, built: Path) -> None:
    write_kibana(_context(), tmp_path)
    names = sorted(p.name for p in (built / "elastic").iterdir())
    assert names == sorted(["README.md", COMPONENT_TEMPLATE_FILE, PIPELINE_FILE, NDJSON])
    _, mismatch, errors = filecmp.cmpfiles(built / "elastic", tmp_path / "elastic", names, shallow=False)
    assert not mismatch and not errors
    for line in (built / "elastic" / NDJSON).read_text(encoding="utf-8").splitlines():
        assert line == json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False)


def test_level_severity_threat_and_defaults(documents: list[dict[str, Any]]) -> None:
    rules = {rule.id: rule for rule in _context_default().rules}
    for document in documents:
        rule = rules[document["rule_id"]]
        assert (document["severity"], document["risk_score"]) == SEVERITY[rule.level]
        assert document["enabled"] is False
        assert document["author"] == ["snaptrail"]
        assert isinstance(document["version"], int) and document["version"] >= 1
        assert f"snaptrail {_context_default().version}" in document["tags"]
        assert document["meta"]["snaptrail"]["provenance"]["snaptrail_version"] == _context_default().version
        assert "### Provenance" in document["note"] and rule.id in document["note"]
        assert document["exceptions_list"] == []
        assert (document.get("building_block_type") == "default") == (rule.level == "informational")
        if document["type"] == "esql":
            assert "index" not in document
        else:
            assert document["index"] == ["logs-aws.cloudtrail-*"]
        # threat: every ATT&CK technique of the rule, sub-techniques under their parent
        seen = set()
        for entry in document["threat"]:
            assert f"Tactic: {entry['tactic']['name']}" in document["tags"]
            for technique in entry["technique"]:
                seen.add(technique["id"])
                for sub in technique.get("subtechnique", []):
                    assert sub["id"].startswith(technique["id"] + ".")
                    seen.add(sub["id"])
        assert {t.id for t in rule.techniques} <= seen
        assert {t.id for t in rule.tactics} <= {e["tactic"]["id"] for e in document["threat"]}


def test_readme_lists_settings_and_left_out_rules(tmp_path: Path) -> None:
    context = _context(_with_elastic({"index": "cloudtrail-*", "languages": ["eql"], "enabled": True}))
    write_kibana(context, tmp_path)
    documents = _read(tmp_path)
    readme = (tmp_path / "elastic" / "README.md").read_text(encoding="utf-8")
    assert all(d["type"] == "eql" and d["index"] == ["cloudtrail-*"] and d["enabled"] for d in documents)
    left_out = [rule for rule in context.rules if context.query("elastic-eql", rule.id) is None]
    assert left_out, "expected rules that EQL cannot express"
    for rule in left_out:
        assert f"`{rule.name}` ({rule.id}): EQL:" in readme
    assert {d["rule_id"] for d in documents} == {r.id for r in context.rules} - {r.id for r in left_out}
    assert "_import?overwrite=true" in readme and "Security > Rules" in readme
    assert "no Kibana exception list is needed" in readme
    assert "Elasticsearch 9.5" in readme


def test_language_order_is_configurable(tmp_path: Path) -> None:
    settings = {"languages": ["lucene", "esql"], "timestamp_override": None, "index": ["cloudtrail-*"]}
    context = _context(_with_elastic(settings))
    write_kibana(context, tmp_path)
    documents = _read(tmp_path)
    for document in documents:
        lucene = context.query("elastic-lucene", document["rule_id"])
        if document["type"] == "threshold":  # Lucene is configured, so the value_count chain is carried
            assert lucene is None and "threshold" in document
            continue
        assert document["type"] == ("query" if lucene is not None else "esql")
        assert document["language"] == ("lucene" if lucene is not None else "esql")
        assert "timestamp_override" not in document
    for document in documents:  # ES|QL carries the index in FROM: it follows elastic.index too
        if document["type"] == "esql":
            assert document["query"].startswith("from cloudtrail-* metadata")


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"index": []}, "index"),
        ({"index": [5]}, "index[0]"),
        ({"enabled": "yes"}, "enabled"),
        ({"interval": "five minutes"}, "interval"),
        ({"from": "15m"}, "from"),
        ({"interval": "30m", "from": "now-15m"}, "from"),
        ({"interval": "30m"}, "from"),  # against the default from
        ({"languages": ["kql"]}, "languages[0]"),
        ({"languages": ["eql", "eql"]}, "languages"),
        ({"max_signals": 0}, "max_signals"),
        ({"max_signals": True}, "max_signals"),
        ({"timestamp_override": "not a field"}, "timestamp_override"),
        ({"intervall": "5m"}, "intervall: unknown key; did you mean 'interval'?"),
    ],
)
def test_bad_elastic_settings_are_config_errors(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        _with_elastic(settings)
    assert str(error.value).startswith(f"snaptrail.yml: elastic.{key}"), error.value


VALID_EQL: dict[str, Any] = {
    "rule_id": "e6860c18-e141-4ba7-9b4f-1c0ae689acfc",
    "name": "Example",
    "description": "Example rule.",
    "risk_score": 73,
    "severity": "high",
    "type": "eql",
    "language": "eql",
    "query": 'any where event.action == "ModifySnapshotAttribute"',
    "index": ["logs-aws.cloudtrail-*"],
    "from": "now-15m",
    "interval": "5m",
    "threat": [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": "TA0010",
                "name": "Exfiltration",
                "reference": "https://attack.mitre.org/tactics/TA0010/",
            },
            "technique": [
                {
                    "id": "T1578",
                    "name": "Modify Cloud Compute Infrastructure",
                    "reference": "https://attack.mitre.org/techniques/T1578/",
                    "subtechnique": [
                        {
                            "id": "T1578.001",
                            "name": "Create Snapshot",
                            "reference": "https://attack.mitre.org/techniques/T1578/001/",
                        }
                    ],
                }
            ],
        }
    ],
}
VALID_ESQL: dict[str, Any] = {
    **{k: v for k, v in VALID_EQL.items() if k != "index"},
    "type": "esql",
    "language": "esql",
    "query": 'from logs-aws.cloudtrail-* metadata _id, _index, _version\n| where event.action == "x"',
}


def _drop(key: str) -> Any:
    return lambda d: d.pop(key)


def _set(key: str, value: Any) -> Any:
    return lambda d: d.__setitem__(key, value)


BROKEN = {
    "missing severity": (VALID_EQL, _drop("severity")),
    "missing name": (VALID_EQL, _drop("name")),
    "missing rule_id": (VALID_EQL, _drop("rule_id")),
    "eql without query": (VALID_EQL, _drop("query")),
    "severity not in enum": (VALID_EQL, _set("severity", "severe")),
    "informational is not a Kibana severity": (VALID_EQL, _set("severity", "informational")),
    "index as a string": (VALID_EQL, _set("index", "logs-aws.cloudtrail-*")),
    "risk_score above 100": (VALID_EQL, _set("risk_score", 101)),
    "risk_score as text": (VALID_EQL, _set("risk_score", "73")),
    "unknown rule type": (VALID_EQL, _set("type", "sigma")),
    "eql rule with kuery language": (VALID_EQL, _set("language", "kuery")),
    "misspelt property": (VALID_EQL, _set("falsepositives", [])),
    "version zero": (VALID_EQL, _set("version", 0)),
    "interval as date math": (VALID_EQL, _set("interval", "now-5m")),
    "tactic without reference": (VALID_EQL, lambda d: d["threat"][0]["tactic"].pop("reference")),
    "threat without tactic": (VALID_EQL, lambda d: d["threat"][0].pop("tactic")),
    "sub-technique as technique": (
        VALID_EQL,
        lambda d: d["threat"][0]["technique"][0].__setitem__("id", "T1578.001"),
    ),
    "esql rule with index": (VALID_ESQL, _set("index", ["logs-aws.cloudtrail-*"])),
    "esql query without FROM": (VALID_ESQL, _set("query", 'where event.action == "x"')),
}


def test_valid_examples_validate(validator: jsonschema.Draft202012Validator) -> None:
    assert not _errors(validator, VALID_EQL)
    assert not _errors(validator, VALID_ESQL)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_object_is_rejected(name: str, validator: jsonschema.Draft202012Validator) -> None:
    base, breaks = BROKEN[name]
    document = copy.deepcopy(base)
    breaks(document)
    assert _errors(validator, document), f"schema accepted: {name}"


def test_a_broken_line_of_the_built_package_is_rejected(
    documents: list[dict[str, Any]], validator: jsonschema.Draft202012Validator
) -> None:
    document = copy.deepcopy(documents[0])
    document["severity"] = "severe"
    del document["description"]
    assert len(_errors(validator, document)) >= 2


# ---- threshold rules: value_count chains ----------------------------------------------------------

VALID_THRESHOLD: dict[str, Any] = {
    **VALID_EQL,
    "type": "threshold",
    "language": "lucene",
    "query": "event.action:CreateSnapshot",
    "threshold": {
        "field": ["aws.cloudtrail.user_identity.arn"],
        "value": 5,
        "cardinality": [{"field": "snaptrail.request_parameters.volumeId", "value": 5}],
    },
}
BROKEN_THRESHOLD = {
    "threshold rule without threshold": _drop("threshold"),
    "threshold rule without query": _drop("query"),
    "threshold rule in eql": _set("language", "eql"),
    "threshold value zero": lambda d: d["threshold"].__setitem__("value", 0),
    "threshold without value": lambda d: d["threshold"].pop("value"),
    "threshold without field": lambda d: d["threshold"].pop("field"),
    "cardinality value negative": lambda d: d["threshold"]["cardinality"][0].__setitem__("value", -1),
    "cardinality without field": lambda d: d["threshold"]["cardinality"][0].pop("field"),
    "misspelt threshold key": lambda d: d["threshold"].__setitem__("cardinalty", []),
    "threshold object on an eql rule": lambda d: d.update(type="eql", language="eql"),
}


def test_valid_threshold_example_validates(validator: jsonschema.Draft202012Validator) -> None:
    assert not _errors(validator, VALID_THRESHOLD)
    grouped_by_one = copy.deepcopy(VALID_THRESHOLD)
    grouped_by_one["threshold"] = {"field": "aws.cloudtrail.user_identity.arn", "value": 1}
    assert not _errors(validator, grouped_by_one)


@pytest.mark.parametrize("name", sorted(BROKEN_THRESHOLD))
def test_broken_threshold_rule_is_rejected(name: str, validator: jsonschema.Draft202012Validator) -> None:
    document = copy.deepcopy(VALID_THRESHOLD)
    BROKEN_THRESHOLD[name](document)
    assert _errors(validator, document), f"schema accepted: {name}"


def _value_count_chains(context: BuildContext) -> dict[str, Any]:
    from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType

    return {
        rule_id: rule
        for rule_id, rule in context.corpus.by_id.items()
        if isinstance(rule, SigmaCorrelationRule) and rule.type == SigmaCorrelationType.VALUE_COUNT
    }


def test_value_count_chains_are_threshold_rules(documents: list[dict[str, Any]], built: Path) -> None:
    context = _context_default()
    chains = _value_count_chains(context)
    assert chains, "the corpus should hold a value_count chain"
    thresholds = {d["rule_id"]: d for d in documents if d["type"] == "threshold"}
    assert set(thresholds) == set(chains)
    template = json.loads((built / "elastic" / COMPONENT_TEMPLATE_FILE).read_text(encoding="utf-8"))
    for rule_id, chain in chains.items():
        document = thresholds[rule_id]
        [step] = chain.rules
        # The query part is the step rule's compiled Lucene query, unchanged.
        assert document["query"] == context.query("elastic-lucene", str(step.rule.id))
        assert document["language"] == "lucene"
        assert document["meta"]["snaptrail"]["target"] == "elastic-lucene"
        threshold = document["threshold"]
        assert threshold["value"] == chain.condition.count
        assert threshold["cardinality"] == [
            {"field": "snaptrail.request_parameters.volumeId", "value": chain.condition.count}
        ]
        assert threshold["field"] == ["aws.cloudtrail.user_identity.arn"]
        # One run's events are the window: the chain's timespan, not the chains' lookback + timespan.
        assert document["from"] == f"now-{int(chain.timespan.seconds)}s"
        assert "not a sliding window" in document["setup"] and PIPELINE_FILE in document["setup"]
        for field in [entry["field"] for entry in threshold["cardinality"]]:
            assert _mapped_type(template, field) == "keyword", field


def _mapped_type(template: dict[str, Any], field: str) -> str | None:
    node: Any = {"properties": template["template"]["mappings"]["properties"]}
    for name in field.split("."):
        node = node.get("properties", {}).get(name)
        if node is None:
            return None
    return node.get("type")  # type: ignore[no-any-return]


def test_threshold_query_selects_the_step_events_on_every_chain_fixture() -> None:
    """The query part on Lucene's MemoryIndex (the real query parser and matcher) over each fixture case
    of the chain: it selects exactly the events DuckDB selects with the step rule's query (an independent
    engine), and every event of every declared alert. The cardinality part (Kibana's terms and
    cardinality aggregation per run) has no offline engine: pinned in expected_limits.yml."""
    from snaptrail.verify.harness import lucene_batch

    from expected_limits import not_executed
    from fixture_cases import chain_cases_for

    context = _context_default()
    chains = _value_count_chains(context)
    names = {rule.id: rule.name for rule in context.rules}
    assert not_executed("kibana-threshold-cardinality") == {names[rule_id] for rule_id in chains}
    checked = 0
    for rule_id, chain in chains.items():
        [step] = chain.rules
        lucene = context.query("elastic-lucene", str(step.rule.id))
        duckdb = context.query("duckdb", str(step.rule.id))
        assert lucene is not None and duckdb is not None
        cases = chain_cases_for(rule_id)
        assert cases
        for case in cases:
            hits = lucene_batch({"q": lucene}, case.records)["q"]
            store_hits = harness.HARNESSES["duckdb"].execute(duckdb, case.records)  # type: ignore[misc]
            assert set(hits) == store_hits, (case.declared, sorted(hits), sorted(store_hits))
            assert {event for alert in case.expect for event in alert} <= set(hits), case.declared
            checked += 1
    assert checked >= 2


def test_without_lucene_a_value_count_chain_is_left_out(tmp_path: Path) -> None:
    context = _context(_with_elastic({"languages": ["eql", "esql"]}))
    write_kibana(context, tmp_path)
    documents = _read(tmp_path)
    assert not [d for d in documents if d["type"] == "threshold"]
    readme = (tmp_path / "elastic" / "README.md").read_text(encoding="utf-8")
    for rule_id in _value_count_chains(context):
        assert f"({rule_id}): EQL: " in readme
