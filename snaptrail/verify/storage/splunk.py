"""The fields a Splunk search sees for one CloudTrail record (Splunk Add-on for AWS, ``aws:cloudtrail``).

Search-time JSON extraction names every leaf by its dotted path, writes each array step as ``{}``
(``spath`` syntax, e.g. ``requestParameters.valuesToAdd{}``) and makes array leaves multivalue
(knowledge file 1.2). Every field is therefore returned as a list of strings, one per value.

Not modelled: the TA's aliases and CIM fields (``src_ip``, ``user_arn``, ``action`` ...) and the
extraction size limits of very large events.
"""

from __future__ import annotations

import json
from typing import Any


def _text(value: Any) -> str:
    # Splunk keeps the JSON literal: true/false as written, numbers as their JSON text. (Numbers are
    # re-serialised from the parsed value, so an unusual spelling such as 1e3 comes back as 1000.0.)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _walk(value: Any, path: str, fields: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        # An empty object yields no field: there is no leaf under it.
        for key, child in value.items():
            _walk(child, f"{path}.{key}" if path else key, fields)
    elif isinstance(value, list):
        # An empty array yields no field either; each element adds one value under "<path>{}".
        for item in value:
            _walk(item, f"{path}{{}}", fields)
    elif value is None:
        # Inferred, not verified against Splunk_TA_aws (its props.conf was not available): a JSON
        # null is treated as no value, so it produces no field and no element of a multivalue field.
        return
    else:
        fields.setdefault(path, []).append(_text(value))


def to_splunk_event(record: dict[str, Any]) -> dict[str, list[str]]:
    """Every extracted field of the event: dotted path (``{}`` for array steps) -> its values."""
    fields: dict[str, list[str]] = {}
    _walk(record, "", fields)
    return fields
