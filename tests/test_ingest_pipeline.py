"""The shipped ingest pipeline (dist/elastic/snaptrail-ingest-pipeline.json) against the fixtures.

What is proven: the pipeline's table (`params.fields`, the data the Painless script walks), applied to
every fixture record as the AWS integration leaves it (the storage model's flattened objects), writes
exactly the `snaptrail.*` keywords of the storage model that the EQL rules are executed on; every field
a compiled EQL query reads is one the pipeline writes and the component template maps; the JSON is
deterministic. What is NOT proven: the Painless source itself never runs here (no Elasticsearch or
Painless runtime is available offline). `_walk` below is a model of that script, step for step, kept
minimal; it reads only the shipped JSON, never the registry, so a wrong table fails here.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from snaptrail.build.ingest_pipeline import (
    COMPONENT_TEMPLATE_FILE,
    PIPELINE_FILE,
    component_template,
    ingest_pipeline,
    write_ingest_pipeline,
)
from snaptrail.verify.storage import to_ecs_document
from snaptrail.verify.storage.elastic import java_to_string

from fixture_cases import all_cases, fixtures, rule_corpus


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pipeline")
    write_ingest_pipeline(folder, "test")
    return {
        "pipeline": json.loads((folder / PIPELINE_FILE).read_text(encoding="utf-8")),
        "template": json.loads((folder / COMPONENT_TEMPLATE_FILE).read_text(encoding="utf-8")),
    }


def _read(document: dict[str, Any], names: list[str]) -> Any:
    node: Any = document
    for name in names:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def _walk(pipeline: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """Model of the script processor: the fields it would put, by dotted name."""
    script = pipeline["processors"][0]["script"]
    params = script["params"]
    flat = document.get("aws", {}).get("cloudtrail", {}).get("flattened")
    written: dict[str, Any] = {}
    for entry in params["fields"] if flat is not None else []:
        nodes = [flat.get(entry["object"])]
        for step in entry["steps"]:
            reached: list[Any] = []
            for node in nodes:
                if isinstance(node, dict) and step["name"] in node:
                    value = node[step["name"]]
                    if step["array"]:
                        if isinstance(value, list):
                            reached.extend(value)
                    else:
                        reached.append(value)
            nodes = reached
        # String.valueOf of a String, Number or Boolean (json processor types); maps and lists skipped.
        texts = [java_to_string(n) for n in nodes if isinstance(n, (str, int, float, bool))]
        # Numbers (Java's Boolean is no Number): the first least and the first greatest, as the script's
        # strict `<` / `>` keep them.
        numbers = [n for n in nodes if isinstance(n, (int, float)) and not isinstance(n, bool)]
        if not texts:
            continue
        separator = params["separator"]
        text = separator + "".join(t + separator for t in texts) if entry["array"] else texts[0]
        written[".".join([*entry["parents"], entry["leaf"]])] = text
        if numbers:
            low = high = numbers[0]
            for number in numbers[1:]:
                low = number if number < low else low
                high = number if number > high else high
            written[".".join(entry["min"])] = low
            written[".".join(entry["max"])] = high
    # The equalities read the document after the fields above are put (sourceRegion is one of them).
    after = copy.deepcopy(document)
    for dotted, value in written.items():
        *parents, leaf = dotted.split(".")
        node = after
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    for equality in params["equalities"]:
        left, right = _read(after, equality["left"]), _read(after, equality["right"])
        if isinstance(left, str) and isinstance(right, str):
            written[".".join(equality["field"])] = left.lower() == right.lower()
    return written


def _dotted(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_dotted(value, f"{prefix}.{key}" if prefix else key))
    return out


def _records() -> list[dict[str, Any]]:
    records = [case.record for case in all_cases()]
    records += [record for case in fixtures().chains for record in case.records]
    return records


def test_only_documented_processors_and_deterministic(shipped: dict[str, Any]) -> None:
    pipeline = shipped["pipeline"]
    assert [next(iter(p)) for p in pipeline["processors"]] == ["script"]
    assert pipeline["processors"][0]["script"]["lang"] == "painless"
    assert ingest_pipeline("test") == pipeline  # same text from a second generation
    assert component_template("test") == shipped["template"]


def test_pipeline_writes_what_the_storage_model_holds_on_every_fixture(shipped: dict[str, Any]) -> None:
    records = _records()
    assert len(records) > 100
    with_fields = 0
    for record in records:
        document = to_ecs_document(record)
        modelled = _dotted(document.get("snaptrail", {}), "snaptrail") if "snaptrail" in document else {}
        # The script runs on the document as the integration leaves it: without snaptrail.* fields.
        before = {key: value for key, value in document.items() if key != "snaptrail"}
        assert _walk(shipped["pipeline"], before) == modelled, record["eventID"]
        with_fields += bool(modelled)
    assert with_fields > 50, "the fixtures should exercise the pipeline"


def test_array_paths_hold_every_value_between_tabs(shipped: dict[str, Any]) -> None:
    record = {
        "eventID": "x",
        "eventTime": "2024-01-01T00:00:00Z",
        "requestParameters": {
            "snapshotId": "snap-1",
            "createVolumePermission": {
                "add": {"items": [{"userId": "111122223333"}, {"userId": 444455556666}]}
            },
        },
    }
    written = _walk(shipped["pipeline"], to_ecs_document(record))
    assert written["snaptrail.request_parameters.snapshotId"] == "snap-1"
    assert written["snaptrail.request_parameters.createVolumePermission.add.items.userId"] == (
        "\t111122223333\t444455556666\t"
    )


def _eql_fields(query: str) -> set[str]:
    """The field names an EQL query reads, from Elastic's eql parser's syntax tree."""
    import eql
    from eql import ast
    from eql.parser import allow_runs, elasticsearch_syntax, ignore_missing_functions

    with elasticsearch_syntax, ignore_missing_functions, allow_runs:
        tree = eql.parse_query(query)
    return {".".join([node.base, *map(str, node.path)]) for node in tree if isinstance(node, ast.Field)}


def _dynamically_mapped(template: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The mapping a dynamic template of the component template gives a new numeric field (path_match is
    a simple `*` pattern over the dotted name), and the object it sits in must be dynamic."""
    mappings = template["template"]["mappings"]
    for entry in mappings.get("dynamic_templates", []):
        [(_, rule)] = entry.items()
        if rule.get("match_mapping_type") in ("long", "double") and fnmatch.fnmatchcase(
            field, rule["path_match"]
        ):
            *parents, last = rule["path_match"].removesuffix(".*").split(".")
            node = mappings["properties"]
            for name in parents:
                node = node[name]["properties"]
            assert node[last].get("dynamic") is True, rule
            return dict(rule["mapping"])
    return None


def test_every_snaptrail_field_an_eql_query_reads_is_written_and_mapped(shipped: dict[str, Any]) -> None:
    params = shipped["pipeline"]["processors"][0]["script"]["params"]
    entries = params["fields"]
    written = {".".join([*e["parents"], e["leaf"]]) for e in entries}
    bounds = {".".join(e[bound]) for e in entries for bound in ("min", "max")}
    derived = {".".join(e["field"]) for e in params["equalities"]}
    properties = shipped["template"]["template"]["mappings"]["properties"]
    leaves = _dotted(properties)
    mapped = {key.replace(".properties", "").rsplit(".", 1)[0] for key in leaves}
    assert written <= mapped, sorted(written - mapped)
    types = {key.replace(".properties", "").removesuffix(".type"): v for key, v in leaves.items()}
    assert all(types[field] == "boolean" for field in derived), derived
    for field in bounds:  # not declared up front: a dynamic template maps each as a number when seen
        assert field not in mapped
        assert _dynamically_mapped(shipped["template"], field) == {"type": "double"}, field
    assert _dynamically_mapped(shipped["template"], "snaptrail.request_parameters.fromPort") is None
    read: set[str] = set()
    for conversion in rule_corpus(with_filters=True).compiled("elastic-eql").values():
        if conversion.ok:
            read |= {f for f in _eql_fields(str(conversion.query)) if f.startswith("snaptrail.")}
    assert len(read) >= 10, sorted(read)
    assert read <= written | bounds | derived, sorted(read - written - bounds - derived)
    # The port comparisons read the bounds and the account comparison reads its derived boolean.
    assert "snaptrail.min.response_elements.securityGroupRuleSet.items.fromPort" in read
    assert "snaptrail.max.response_elements.securityGroupRuleSet.items.toPort" in read
    assert "snaptrail.same.caller_and_recipient_account" in read


def test_bounds_are_the_least_and_greatest_number_and_equalities_ignore_case(
    shipped: dict[str, Any],
) -> None:
    record = {
        "eventID": "x",
        "eventTime": "2024-01-01T00:00:00Z",
        "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"accountId": "444455556666"},
        "requestParameters": {"sourceRegion": "EU-WEST-1"},
        "responseElements": {
            "securityGroupRuleSet": {
                "items": [
                    {"fromPort": 443, "toPort": 443, "ipProtocol": "tcp"},
                    {"fromPort": 20, "toPort": 23, "isEgress": False},
                    {"fromPort": -1, "toPort": -1},
                ]
            }
        },
    }
    document = to_ecs_document(record)
    written = _walk(shipped["pipeline"], {k: v for k, v in document.items() if k != "snaptrail"})
    items = "response_elements.securityGroupRuleSet.items"
    assert written[f"snaptrail.min.{items}.fromPort"] == -1
    assert written[f"snaptrail.max.{items}.toPort"] == 443
    assert f"snaptrail.min.{items}.isEgress" not in written  # a boolean is not a number
    assert f"snaptrail.min.{items}.ipProtocol" not in written
    assert written["snaptrail.same.caller_and_recipient_account"] is False
    assert written["snaptrail.same.source_and_event_region"] is True
    del record["recipientAccountId"]
    written = _walk(shipped["pipeline"], to_ecs_document(record))
    assert "snaptrail.same.caller_and_recipient_account" not in written  # one side absent: no boolean


def test_shipped_with_the_kibana_package(tmp_path: Path) -> None:
    from test_package_kibana import _context_default

    from snaptrail.build.kibana import write_kibana

    written = {path.name for path in write_kibana(_context_default(), tmp_path)}
    assert {PIPELINE_FILE, COMPONENT_TEMPLATE_FILE} <= written
