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

For numeric comparisons (EQL compares keywords as text) the same walk keeps the least and the greatest
JSON number each path reaches, as `snaptrail.min.*` / `snaptrail.max.*` (bound_field): "some element
<= n" is "the least <= n", so any-element comparisons stay exact on array paths. Field-to-field
comparisons EQL cannot write are derived once both fields are set (DERIVED_EQUALITIES): a boolean,
written when both fields hold a string, true when they are equal ignoring case.

One `script` processor (Painless) does the walk; its tables (`params.fields`, `params.equalities`) are
the data. The component template maps every path as a keyword (the integration's dynamic mapping would
cut strings at 1024 characters; values longer than `ignore_above` are kept in `_source` but not
searchable), each derived equality as a boolean, and the bounds as doubles through dynamic templates, so
only the paths that carry numbers get a mapping. Not executed here: no Painless runtime is available
offline; tests/test_ingest_pipeline.py runs a model of the script over the shipped tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snaptrail.backends.elastic import (
    BOUND_PREFIXES,
    ELEMENT_SEPARATOR,
    FLATTENED_PREFIX,
    _mapping,
    bound_field,
    derived_equalities,
    extracted_field,
    extracted_paths,
)

PIPELINE_NAME = "logs-aws.cloudtrail@custom"
PIPELINE_FILE = "snaptrail-ingest-pipeline.json"
COMPONENT_TEMPLATE_FILE = "snaptrail-component-template.json"
# Lucene refuses terms over 32766 bytes (the document would fail to index); 8191 characters of UTF-8
# stay below that whatever the characters.
IGNORE_ABOVE = 8191

# Reads params.fields: [{object, steps: [{name, array}], array, parents, leaf, min, max}] and
# params.equalities: [{left, right, field}] (dotted names as lists). Each step keeps, from every node
# reached so far, the map entry of that name: all elements of it for an array step (a list), the value
# itself otherwise. Strings, numbers and booleans are printed with String.valueOf; of the numbers, the
# least and the greatest are also kept as numbers (booleans are not numbers in Java).
SCRIPT = """\
void put(Map root, List names, def value) {
  Map target = root;
  for (int i = 0; i < names.size() - 1; i++) {
    def name = names.get(i);
    if (!(target.get(name) instanceof Map)) { target.put(name, new HashMap()); }
    target = (Map) target.get(name);
  }
  target.put(names.get(names.size() - 1), value);
}
Object read(Map root, List names) {
  def node = root;
  for (def name : names) {
    if (!(node instanceof Map)) { return null; }
    node = ((Map) node).get(name);
  }
  return node;
}
def flat = ctx.aws?.cloudtrail?.flattened;
if (flat != null) {
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
    def low = null;
    def high = null;
    for (def node : nodes) {
      if (node instanceof String || node instanceof Number || node instanceof Boolean) {
        texts.add(String.valueOf(node));
      }
      if (node instanceof Number) {
        double number = ((Number) node).doubleValue();
        if (low == null || number < ((Number) low).doubleValue()) { low = node; }
        if (high == null || number > ((Number) high).doubleValue()) { high = node; }
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
    List names = new ArrayList(entry.parents);
    names.add(entry.leaf);
    put(ctx, names, text);
    if (low != null) {
      put(ctx, entry.min, low);
      put(ctx, entry.max, high);
    }
  }
}
for (def equality : params.equalities) {
  def left = read(ctx, equality.left);
  def right = read(ctx, equality.right);
  if (left instanceof String && right instanceof String) {
    put(ctx, equality.field, ((String) left).equalsIgnoreCase((String) right));
  }
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
                "min": bound_field(extracted_field(path), "min").split("."),
                "max": bound_field(extracted_field(path), "max").split("."),
            }
        )
    return fields


def pipeline_equalities() -> list[dict[str, list[str]]]:
    """The script's derived equalities (snaptrail.backends.elastic.DERIVED_EQUALITIES), as dotted names
    split into steps: the two fields the integration (or this pipeline) wrote, and the boolean."""
    return [
        {"left": left.split("."), "right": right.split("."), "field": field.split(".")}
        for left, right, field in derived_equalities()
    ]


def ingest_pipeline(version: str) -> dict[str, Any]:
    """The body of `PUT _ingest/pipeline/logs-aws.cloudtrail@custom`."""
    return {
        "description": (
            f"snaptrail {version}: copies CloudTrail paths below aws.cloudtrail.flattened.* to snaptrail.* "
            "keywords for EQL (array paths: every value with a tab before and after), the least and "
            "greatest number of each path, and the derived field equalities"
        ),
        "processors": [
            {
                "script": {
                    "tag": "snaptrail_extract_paths",
                    "description": "snaptrail: registry paths below the flattened objects as keywords",
                    "lang": "painless",
                    "source": SCRIPT,
                    "params": {
                        "separator": ELEMENT_SEPARATOR,
                        "fields": pipeline_fields(),
                        "equalities": pipeline_equalities(),
                    },
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


def _node(properties: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The mapping object of the field `names` (its parents created as objects)."""
    node = properties
    for name in names[:-1]:
        node = node.setdefault(name, {"properties": {}})["properties"]
    return node.setdefault(names[-1], {})


def component_template(version: str) -> dict[str, Any]:
    """The body of `PUT _component_template/logs-aws.cloudtrail@custom`: every path a keyword, each derived
    equality a boolean, and the numeric bounds as doubles through dynamic templates (a bound is written
    only for the paths that hold numbers, so only those get a mapping: the two per path are not all
    declared up front)."""
    properties: dict[str, Any] = {}
    for entry in pipeline_fields():
        _node(properties, [*entry["parents"], entry["leaf"]]).update(
            {"type": "keyword", "ignore_above": IGNORE_ABOVE}
        )
    for equality in pipeline_equalities():
        _node(properties, equality["field"]).update({"type": "boolean"})
    _node(properties, ["snaptrail", "ingest_error"]).update({"type": "keyword", "ignore_above": IGNORE_ABOVE})
    dynamic_templates = []
    for bound, prefix in sorted(BOUND_PREFIXES.items()):
        # The bound objects map their new fields whatever the data stream's own `dynamic` setting.
        _node(properties, prefix.rstrip(".").split(".")).update({"type": "object", "dynamic": True})
        for kind in ("long", "double"):  # JSON integers and decimals; objects on the way are not matched
            dynamic_templates.append(
                {
                    f"snaptrail_{bound}_{kind}": {
                        "path_match": prefix + "*",
                        "match_mapping_type": kind,
                        "mapping": {"type": "double"},
                    }
                }
            )
    return {
        "template": {"mappings": {"dynamic_templates": dynamic_templates, "properties": properties}},
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
