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


def _walk(pipeline: dict[str, Any], document: dict[str, Any]) -> dict[str, str]:
    """Model of the script processor: the fields it would put, by dotted name."""
    script = pipeline["processors"][0]["script"]
    params = script["params"]
    flat = document.get("aws", {}).get("cloudtrail", {}).get("flattened")
    written: dict[str, str] = {}
    if flat is None:
        return written
    for entry in params["fields"]:
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
        if not texts:
            continue
        separator = params["separator"]
        text = separator + "".join(t + separator for t in texts) if entry["array"] else texts[0]
        written[".".join([*entry["parents"], entry["leaf"]])] = text
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


def test_every_snaptrail_field_an_eql_query_reads_is_written_and_mapped(shipped: dict[str, Any]) -> None:
    entries = shipped["pipeline"]["processors"][0]["script"]["params"]["fields"]
    written = {".".join([*e["parents"], e["leaf"]]) for e in entries}
    properties = shipped["template"]["template"]["mappings"]["properties"]
    mapped = {key.replace(".properties", "").rsplit(".", 1)[0] for key in _dotted(properties)}
    assert written <= mapped, sorted(written - mapped)
    read: set[str] = set()
    for conversion in rule_corpus(with_filters=True).compiled("elastic-eql").values():
        if conversion.ok:
            read |= {f for f in _eql_fields(str(conversion.query)) if f.startswith("snaptrail.")}
    assert len(read) >= 10, sorted(read)
    assert read <= written, sorted(read - written)


def test_shipped_with_the_kibana_package(tmp_path: Path) -> None:
    from test_package_kibana import _context_default

    from snaptrail.build.kibana import write_kibana

    written = {path.name for path in write_kibana(_context_default(), tmp_path)}
    assert {PIPELINE_FILE, COMPONENT_TEMPLATE_FILE} <= written
