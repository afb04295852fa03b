"""dist/elastic/: the ingest pipeline that gives EQL the nested CloudTrail paths, and its mappings.

Elasticsearch EQL cannot read `flattened` sub-fields, which is where the AWS integration keeps
requestParameters, responseElements, additionalEventData and serviceEventDetails. The integration's
pipeline ends by calling `logs-aws.cloudtrail@custom`; there the document holds those objects as maps
under `aws.cloudtrail.flattened.*` (`event.original` is gone unless the integration keeps it). The
pipeline written here copies every registry path below them to a `snaptrail.*` keyword
(snaptrail.backends.elastic.extracted_field): a scalar path's value as Java prints it, an array path's
values each with a tab before and after, so one keyword answers "an element equals / starts with /
ends with / contains". It is generated from the registry, as the targets' field mappings are: a path a
rule needs is declared there and the next build copies it.

One `script` processor (Painless) does the walk; its table (`params.fields`) is the data. The component
template maps every field as a keyword (the integration's dynamic mapping would cut strings at 1024
characters); values longer than `ignore_above` are kept in `_source` but not searchable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snaptrail.backends.elastic import (
    ELEMENT_SEPARATOR,
    FLATTENED_PREFIX,
    _mapping,
    extracted_field,
    extracted_paths,
)

PIPELINE_NAME = "logs-aws.cloudtrail@custom"
PIPELINE_FILE = "snaptrail-ingest-pipeline.json"
COMPONENT_TEMPLATE_FILE = "snaptrail-component-template.json"
# Lucene refuses terms over 32766 bytes (the document would fail to index); 8191 characters of UTF-8
# stay below that whatever the characters.
IGNORE_ABOVE = 8191

# Reads params.fields: [{object, steps: [{name, array}], array, parents, leaf}]. Each step keeps, from
# every node reached so far, the map entry of that name: all elements of it for an array step (a list),
# the value itself otherwise. Strings, numbers and booleans are printed with String.valueOf.
SCRIPT = """\
def flat = ctx.aws?.cloudtrail?.flattened;
if (flat == null) { return; }
for (def entry : params.fields) {
  List nodes = new ArrayList();
  nodes.add(flat.get(entry.object));
  for (def step : entry.steps) {
    List reached = new ArrayList();
    for (def node : nodes) {
      if (node instanceof Map && ((Map) node).containsKey(step.name)) {
        def value = ((Map) node).get(step.name);
        if (step.array) {
          if (value instanceof List) { reached.addAll((List) value); }
        } else {
          reached.add(value);
        }
      }
    }
    nodes = reached;
  }
  List texts = new ArrayList();
  for (def node : nodes) {
    if (node instanceof String || node instanceof Number || node instanceof Boolean) {
      texts.add(String.valueOf(node));
    }
  }
  if (texts.isEmpty()) { continue; }
  String text;
  if (entry.array) {
    StringBuilder joined = new StringBuilder(params.separator);
    for (def part : texts) { joined.append(part).append(params.separator); }
    text = joined.toString();
  } else {
    text = texts.get(0);
  }
  Map target = ctx;
  for (def name : entry.parents) {
    if (!(target.get(name) instanceof Map)) { target.put(name, new HashMap()); }
    target = (Map) target.get(name);
  }
  target.put(entry.leaf, text);
}
"""


def pipeline_fields() -> list[dict[str, Any]]:
    """The script's table, one entry per registry path below the four objects, by field name."""
    objects = _mapping()[2]  # CloudTrail object -> its flattened field
    fields = []
    for path in extracted_paths():
        *parents, leaf = extracted_field(path).split(".")
        fields.append(
            {
                "field": extracted_field(path),
                "object": objects[path.root].removeprefix(FLATTENED_PREFIX),
                "steps": [{"name": step.name, "array": step.array} for step in path.steps[1:]],
                "array": path.has_array,
                "parents": parents,
                "leaf": leaf,
            }
        )
    return fields


def ingest_pipeline(version: str) -> dict[str, Any]:
    """The body of `PUT _ingest/pipeline/logs-aws.cloudtrail@custom`."""
    return {
        "description": (
            f"snaptrail {version}: copies CloudTrail paths below aws.cloudtrail.flattened.* to snaptrail.* "
            "keywords for EQL (array paths: every value with a tab before and after)"
        ),
        "processors": [
            {
                "script": {
                    "tag": "snaptrail_extract_paths",
                    "description": "snaptrail: registry paths below the flattened objects as keywords",
                    "lang": "painless",
                    "source": SCRIPT,
                    "params": {"separator": ELEMENT_SEPARATOR, "fields": pipeline_fields()},
                    # A document the script cannot handle is still indexed, with the reason.
                    "on_failure": [
                        {
                            "set": {
                                "field": "snaptrail.ingest_error",
                                "value": "{{ _ingest.on_failure_message }}",
                            }
                        }
                    ],
                }
            }
        ],
        "_meta": {"managed_by": "snaptrail", "snaptrail_version": version},
    }


def component_template(version: str) -> dict[str, Any]:
    """The body of `PUT _component_template/logs-aws.cloudtrail@custom`: every field a keyword."""
    properties: dict[str, Any] = {}
    for entry in pipeline_fields():
        node = properties
        for name in entry["parents"]:
            node = node.setdefault(name, {"properties": {}})["properties"]
        node[entry["leaf"]] = {"type": "keyword", "ignore_above": IGNORE_ABOVE}
    properties.setdefault("snaptrail", {"properties": {}})["properties"]["ingest_error"] = {
        "type": "keyword",
        "ignore_above": IGNORE_ABOVE,
    }
    return {
        "template": {"mappings": {"properties": properties}},
        "_meta": {"managed_by": "snaptrail", "snaptrail_version": version},
    }


def write_ingest_pipeline(folder: Path, version: str) -> list[Path]:
    written = []
    for name, body in (
        (PIPELINE_FILE, ingest_pipeline(version)),
        (COMPONENT_TEMPLATE_FILE, component_template(version)),
    ):
        path = folder / name
        text = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
