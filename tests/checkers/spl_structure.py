"""Structural checks for SPL. No SPL parser or engine exists outside Splunk (none on PyPI, npm or
Debian), so this is NOT a proof that Splunk accepts or executes the query. It checks what can be
checked offline: the base-search macro comes first, quotes and parentheses balance, and every
field the search names is one the Splunk Add-on for AWS extracts for the rule's events.
"""

from __future__ import annotations

import re

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from snaptrail.backends.splunk import BASE_MACRO, splunk_name
from snaptrail.cloudtrail.registry import registry

# A field name before a comparison or IN (the add-on's names: dotted, with {} array steps).
_FIELD = re.compile(r"(?:^|[\s(])([A-Za-z_][\w.{}:]*)\s*(?:!?=|<=?|>=?|\s+IN\s*\()")
_REGEX_COMMAND = re.compile(r"\|\s*regex\s+([A-Za-z_][\w.{}:]*)\s*!?=")


def _event_names(rule: SigmaRule) -> set[str]:
    """The eventName values a parsed rule tests, in any of its detections."""
    names: set[str] = set()

    def walk(item: SigmaDetection | SigmaDetectionItem) -> None:
        if isinstance(item, SigmaDetection):
            for child in item.detection_items:
                walk(child)
        elif item.field == "eventName":
            names.update(str(value) for value in item.value)

    for detection in rule.detection.detections.values():
        walk(detection)
    return names


def _strip_strings(query: str) -> tuple[str, list[str]]:
    """The query with quoted strings blanked, and problems with quoting."""
    out, problems, in_string, escaped = [], [], False, False
    for char in query:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            out.append(" ")
        elif char == '"':
            in_string = True
            out.append(" ")
        else:
            out.append(char)
    if in_string:
        problems.append("unbalanced double quote")
    return "".join(out), problems


def known_splunk_fields(event_names: set[str]) -> set[str]:
    reg = registry()
    paths = list(reg.envelope.values())
    for name in event_names:
        for spec in reg.events_named(name):
            paths.extend(spec.fields.values())
    return {splunk_name(path) for path in paths}


def check_spl(query: str, rule: SigmaRule, extracted: set[str] | None = None) -> list[str]:
    problems: list[str] = []
    if not query.startswith(f"`{BASE_MACRO}`"):
        problems.append(f"search does not start with the base macro `{BASE_MACRO}`")
    bare, quote_problems = _strip_strings(query)
    problems.extend(quote_problems)
    depth = 0
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            problems.append("closing parenthesis without an opening one")
            break
    if depth > 0:
        problems.append("unbalanced parentheses")
    if bare.count("`") % 2:
        problems.append("unbalanced macro backticks")
    known = known_splunk_fields(_event_names(rule))
    fields = set(_FIELD.findall(bare)) | set(_REGEX_COMMAND.findall(bare))
    for field in sorted(fields - {"NOT", "OR", "AND", "CASE", "search", "regex", "where"}):
        if field not in known:
            problems.append(f"field '{field}' is not one the add-on extracts for this rule's events")
    if not fields:
        problems.append("no field comparisons found: the search would match every event")
    return problems


def check_spl_chain(query: str, chain: SigmaCorrelationRule) -> list[str]:
    """Structure of a chain search: each step's search is a well-formed base search, events are
    time-sorted before a sliding `streamstats time_window` (never `bin _time` buckets)."""
    problems = []
    bare, quote_problems = _strip_strings(query)
    problems.extend(quote_problems)
    if bare.count("[") != bare.count("]") or bare.count("(") != bare.count(")"):
        problems.append("unbalanced brackets or parentheses")
    if "bin _time" in query or "bucket _time" in query:
        problems.append("clock-aligned buckets: chains must use sliding windows")
    seconds = int(chain.timespan.seconds)
    if f"streamstats time_window={seconds}s" not in query:
        problems.append(f"no sliding streamstats window of {seconds}s")
    if "| sort 0 + _time" not in query:
        problems.append("events are not sorted by time before streamstats")
    steps = chain.rules
    searches = re.findall(r"\[search (`" + BASE_MACRO + r"`[^\]]*?) \| eval snaptrail_key=", query)
    if len(steps) > 1 and len(searches) != len(steps):
        problems.append(f"{len(searches)} step searches for {len(steps)} steps")
    if not query.startswith(("| multisearch ", f"`{BASE_MACRO}`")):
        problems.append("the search neither starts with multisearch nor with the base macro")
    return problems
