"""The row Microsoft Sentinel's ``AWSCloudTrail`` table holds for one CloudTrail record.

Columns, their Kusto types and CloudTrail paths come from ``snaptrail/cloudtrail/sentinel_table.json``;
this module only applies the value encodings: nested objects are JSON text (analytic rules
``parse_json`` them), bool columns are real bools, everything else is the string CloudTrail wrote.
Columns whose ``source`` is null (connector/workspace metadata, and ``CidrIp``/``IpProtocol``/ports
whose extraction rule is not documented) are not produced.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from snaptrail.cloudtrail.registry import load_json_data
from snaptrail.verify.storage.paths import value_at


@functools.cache
def _columns() -> list[dict[str, Any]]:
    data: dict[str, Any] = load_json_data("sentinel_table.json")
    return [column for column in data["columns"] if column.get("source")]


def _compact_json(value: Any) -> str | None:
    # JSON null and a missing key both mean "no value": the column is empty, not the text "null".
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"))


def _bool(value: Any) -> bool | None:
    # readOnly is a JSON bool, managementEvent a bool (a string in some older records), and
    # mfaAuthenticated is always the *string* "true"/"false" in CloudTrail; the column is a Kusto bool.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _string(value: Any) -> str | None:
    # datetime columns too: kept as the ISO text CloudTrail wrote, so fixtures compare exactly.
    if value is None:
        return None
    if isinstance(value, str):
        return value
    # A non-string where the column expects text (number, bool, object) is kept as its JSON text.
    return json.dumps(value, separators=(",", ":"))


def to_sentinel_row(record: dict[str, Any]) -> dict[str, object]:
    """One ``AWSCloudTrail`` row: every column that is derived from the record, None when absent."""
    row: dict[str, object] = {}
    for column in _columns():
        value = value_at(record, column["source"])
        if column.get("json"):
            row[column["name"]] = _compact_json(value)
        elif column["type"] == "bool":
            row[column["name"]] = _bool(value)
        else:
            row[column["name"]] = _string(value)
    return row
