"""The document the Elastic AWS integration (CloudTrail data stream) stores for one CloudTrail record.

Field mappings come from ``snaptrail/cloudtrail/elastic_fields.json``; this module only knows the
value encodings the integration's ingest pipeline applies on the way:

* the pipeline's first step drops null / "" / {} / [] values recursively, so they exist nowhere in
  the stored document (not in the keyword strings, not in the flattened objects);
* ``requestParameters`` & co. are stored twice: as Painless ``Map.toString()`` text (Java syntax, keys in
  ``java.util.HashMap`` iteration order) and as a ``flattened`` object;
* dates are re-rendered by the date processor (ISO 8601, milliseconds, ``Z``).

On top of the integration, the document carries what snaptrail's own ingest pipeline
(``logs-aws.cloudtrail@custom``, snaptrail.build.ingest_pipeline) adds from the flattened objects as the
integration leaves them: a ``snaptrail.*`` keyword per registry path (``extracted_keywords``), the least
and greatest number each path reaches (``snaptrail.min.*`` / ``snaptrail.max.*``), and the derived
field equalities (``snaptrail.same.*``, ``derived_equalities``).

Enrichments that need outside data or change between package versions (geo/AS lookup, user-agent
parsing, ``related.*``, actor/target entities, ``user.email``/``user.domain`` splitting,
``event.category``/``event.type`` overrides, ``event.created``, ``ecs.version``) are not produced.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from snaptrail.backends.elastic import (
    ELEMENT_SEPARATOR,
    bound_field,
    derived_equalities,
    extracted_field,
    extracted_paths,
)
from snaptrail.cloudtrail.registry import CloudTrailPath, load_json_data
from snaptrail.verify.storage.paths import value_at

# Limits from the integration's field definitions: the flattened copy is only written when the
# keyword string is shorter than Lucene's term limit (longer strings would make indexing fail).
_FLATTENED_MAX_CHARS = 32766

# java.util.HashMap constants (JDK 8+): default table size, load factor, and the bucket length at
# which a bucket is treeified -- or, while the table is smaller than 64, the table is resized instead.
_HASHMAP_INITIAL_CAPACITY = 16
_HASHMAP_LOAD_FACTOR = 0.75
_HASHMAP_TREEIFY_THRESHOLD = 8
_HASHMAP_MIN_TREEIFY_CAPACITY = 64

# The pipeline's grok on tlsDetails.tlsVersion: "TLSv1.3" -> tls.version_protocol "tls", tls.version "1.3"
# (seen in every published .ecs.json; knowledge file 2.2 "tls.version + tls.version_protocol").
_TLS_VERSION = re.compile(r"^(?P<protocol>[A-Za-z]+)v(?P<version>[0-9.]+)$")


class _Dropped:
    """Marker for a value the pipeline's drop-empty script removes."""


_DROPPED = _Dropped()


def java_string_hash(text: str) -> int:
    """``java.lang.String.hashCode()``: s[0]*31^(n-1) + ... over UTF-16 code units, int32 arithmetic."""
    data = text.encode("utf-16-le")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "little")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _hashmap_hash(key: str) -> int:
    # HashMap.hash(): spread the high half into the low half, since the table index only uses low bits.
    h = java_string_hash(key) & 0xFFFFFFFF
    return h ^ (h >> 16)


def java_hashmap_order(keys: list[str]) -> list[str]:
    """The iteration order of a ``new HashMap<>()`` after ``put`` of ``keys`` in this order.

    Iteration walks the table by bucket index and each bucket in insertion order; a resize splits
    every bucket in place, keeping relative order, so simulating inserts and resizes is exact.
    (A bucket of 9+ colliding keys in a table of 64+ becomes a red-black tree, whose order this does
    not model; CloudTrail objects never have that many keys colliding.)
    """
    capacity = _HASHMAP_INITIAL_CAPACITY
    table: list[list[str]] = [[] for _ in range(capacity)]
    size = 0

    def resize() -> None:
        nonlocal capacity, table
        capacity *= 2
        grown: list[list[str]] = [[] for _ in range(capacity)]
        for bucket in table:
            for key in bucket:
                grown[_hashmap_hash(key) & (capacity - 1)].append(key)
        table = grown

    for key in keys:
        bucket = table[_hashmap_hash(key) & (capacity - 1)]
        bucket.append(key)
        # putVal: the new node makes the bucket longer than TREEIFY_THRESHOLD -> treeifyBin(),
        # which resizes while the table is small; then the size check against the threshold.
        if len(bucket) > _HASHMAP_TREEIFY_THRESHOLD and capacity < _HASHMAP_MIN_TREEIFY_CAPACITY:
            resize()
        size += 1
        if size > capacity * _HASHMAP_LOAD_FACTOR:
            resize()
    return [key for bucket in table for key in bucket]


def _drop_empty(value: Any) -> Any:
    """The pipeline's "Drops null/empty values recursively" script, applied to a copy.

    Maps come back in Java HashMap iteration order, computed over *all* keys the JSON parser put
    (the script removes entries in place, so the table keeps the size the full object gave it).
    """
    if value is None or value == "":
        return _DROPPED
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for key in java_hashmap_order(list(value)):
            child = _drop_empty(value[key])
            if child is not _DROPPED:
                kept[key] = child
        return kept if kept else _DROPPED
    if isinstance(value, list):
        items = [child for child in (_drop_empty(item) for item in value) if child is not _DROPPED]
        return items if items else _DROPPED
    return value


def _java_double(number: float) -> str:
    """``Double.toString``: plain decimal for 1e-3 <= |x| < 1e7, else ``d.dddE<n>``; shortest digits.

    Python's repr gives the shortest round-trip digits, as Double.toString does since JDK 19.
    """
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    sign, digit_tuple, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exponent  # position of the decimal point relative to the digit string
    prefix = "-" if sign else ""
    if 1e-3 <= abs(number) < 1e7:
        if point <= 0:
            return f"{prefix}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{prefix}{digits}{'0' * (point - len(digits))}.0"
        return f"{prefix}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{prefix}{mantissa}E{point - 1}"


def java_to_string(value: Any) -> str:
    """``Object.toString()`` of what Painless holds for a parsed JSON value.

    Map -> ``{k=v, k2=v2}`` (AbstractMap.toString, in the dict's order), List -> ``[a, b]``,
    Boolean -> ``true``/``false``, Integer/Long -> digits, Double -> Double.toString, String -> itself.
    """
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={java_to_string(child)}" for key, child in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_to_string(item) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    return str(value)


def _es_date(text: Any) -> Any:
    # The date processor writes ISO 8601 with milliseconds in UTC ("2024-10-30T19:14:35.000Z",
    # as in the published documents). Unparseable input is left alone rather than guessed at.
    if not isinstance(text, str):
        return text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _keyword(value: Any) -> Any:
    # Keyword fields the pipeline converts to string (e.g. managementEvent, a JSON bool, is stored as
    # "true"/"false"); strings pass through.
    if isinstance(value, (bool, int, float)):
        return java_to_string(value)
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _is_ip(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _put(document: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict ("@timestamp" has no dots and stays top level)."""
    *parents, leaf = dotted.split(".")
    node = document
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


@functools.cache
def _mapping() -> dict[str, Any]:
    data: dict[str, Any] = load_json_data("elastic_fields.json")
    return data


def _dedupe(values: list[Any]) -> list[Any]:
    # The pipeline appends resource values with allow_duplicates: false, keeping first-seen order.
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def derived_equalities_of(document: dict[str, Any]) -> dict[str, bool]:
    """The booleans the pipeline derives once the keywords are written: for each pair of fields that
    both hold a string, whether they are equal ignoring case (Java's equalsIgnoreCase; CloudTrail's
    account ids and region names are ASCII, where it is Python's lower())."""
    derived: dict[str, bool] = {}
    for left, right, field in derived_equalities():
        first, second = value_at(document, left), value_at(document, right)
        if isinstance(first, str) and isinstance(second, str):
            derived[field] = first.lower() == second.lower()
    return derived


def extracted_keywords(document: dict[str, Any]) -> dict[str, Any]:
    """The keywords snaptrail's ingest pipeline writes, read from the flattened objects of the document
    as the integration leaves it (an object too long for its flattened copy yields none): each scalar
    value the path reaches, printed as Java prints it; an array path's values each with a tab before
    and after (``"\\t111122223333\\t444455556666\\t"``), a scalar path's value as it is."""
    flattened = document.get("aws", {}).get("cloudtrail", {}).get("flattened", {})
    objects = {entry["source"]: entry["flattened_field"] for entry in _mapping()["objects"]}
    prefix = "aws.cloudtrail.flattened."
    keywords: dict[str, str] = {}
    for path in extracted_paths():
        stored = flattened.get(objects[path.root].removeprefix(prefix))
        if stored is None:
            continue
        values = path.values_in({path.root: stored})
        texts = [java_to_string(value) for value in values if isinstance(value, (str, int, float, bool))]
        if not texts:
            continue
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:  # the first of equal numbers, as the script's strict comparisons keep it
            keywords[bound_field(extracted_field(path), "min")] = min(numbers)
            keywords[bound_field(extracted_field(path), "max")] = max(numbers)
        if path.has_array:
            tab = ELEMENT_SEPARATOR
            keywords[extracted_field(path)] = tab + tab.join(texts) + tab
        else:
            keywords[extracted_field(path)] = texts[0]
    return keywords


def to_ecs_document(record: dict[str, Any]) -> dict[str, Any]:
    """The nested document Elastic stores in ``logs-aws.cloudtrail-*`` for one raw CloudTrail record."""
    mapping = _mapping()
    cleaned = _drop_empty(record)
    ct: dict[str, Any] = cleaned if isinstance(cleaned, dict) else {}
    document: dict[str, Any] = {}

    for entry in mapping["fields"]:
        path = CloudTrailPath.parse(entry["source"])
        values = path.values_in(ct)
        if not values:
            continue
        convert = {"date": _es_date, "boolean": _boolean}.get(entry["type"], _keyword)
        if path.has_array:
            _put(document, entry["field"], _dedupe([convert(v) for v in values]))
        else:
            _put(document, entry["field"], convert(values[0]))

    # user.name: both userName paths land there; the JSON lists them in pipeline order, so a later
    # one (sessionIssuer.userName) overwrites an earlier one, as in the AssumedRole .ecs.json example.
    for source, field in mapping["ambiguous"].items():
        values = CloudTrailPath.parse(source).values_in(ct)
        if values:
            _put(document, field, _keyword(values[0]))

    for entry in mapping["objects"]:
        if entry["source"] not in ct:
            continue
        value = ct[entry["source"]]
        text = java_to_string(value)
        _put(document, entry["string_field"], text)
        if len(text) < _FLATTENED_MAX_CHARS:
            _put(document, entry["flattened_field"], value)

    for field, text in extracted_keywords(document).items():
        _put(document, field, text)
    for field, same in derived_equalities_of(document).items():
        _put(document, field, same)

    event = document.setdefault("event", {})
    event["kind"] = "event"
    # The pipeline sets failure when either error field survived the empty-value drop.
    event["outcome"] = "failure" if ("errorCode" in ct or "errorMessage" in ct) else "success"

    source = document.get("source", {})
    # source.address keeps hostnames and "AWS Internal"; only a real address is copied to source.ip.
    if _is_ip(source.get("address")):
        source["ip"] = source["address"]

    tls = document.get("tls", {})
    match = _TLS_VERSION.match(tls.get("version", "")) if isinstance(tls.get("version"), str) else None
    if match:
        tls["version"] = match["version"]
        tls["version_protocol"] = match["protocol"].lower()

    return document
