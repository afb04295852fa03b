"""A small reference implementation of Sigma v2 value semantics, the judge of the property suite.

It answers one question: does this generated rule match this CloudTrail record? It is written from
the Sigma specification, not from any backend, so that every target (DuckDB, the reference engine,
included) is compared against it:

- A plain string matches the whole field value, case-insensitively (Sigma's default).
- `*` matches any run of characters (also none), `?` exactly one character. A backslash escapes the
  next character only when that is `*`, `?` or a backslash; before any other character, and at the
  end of the value, it is a literal backslash (the spec's "plain backslashes stay as they are").
- `contains` / `startswith` / `endswith` put `*` around / after / before the value.
- `cased` makes the comparison case-sensitive.
- `re` is an unanchored search with Python's `re` (the dialect pySigma validates Sigma regexes in);
  it is case-sensitive unless the `i` modifier is given; `m` and `s` are MULTILINE and DOTALL.
  Without `m`, `$` is the end of the text, as in RE2 (Sentinel's KQL, DuckDB) and Lucene. PCRE and
  Python also let it match just before a final newline; the project takes end of text as the
  meaning, the one most SIEM engines share (a value ending in a newline is rare in CloudTrail).
- A list of values is OR; with `all` it is AND.
- `exists: true/false` tests whether the field is present.
- A field whose path crosses a JSON array matches when any element matches (each value of an `all`
  list may be matched by a different element), and is absent when no element carries it.
- A rule is `base and sel`, or `base and not sel`, where `base` is `eventName:
  ModifySnapshotAttribute` and `sel` ORs one or two selections; a selection on an absent field is
  false, so its negation is true.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The pieces a Sigma string parses into: literal text, or one of the two wildcards.
STAR = object()
QMARK = object()
Part = str | object

# Modifiers that change how a string value is compared (the rest are `all`, `exists`, `re` flags).
TRANSFORMS = ("contains", "startswith", "endswith")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}

BASE_EVENT = "ModifySnapshotAttribute"


@dataclass(frozen=True)
class Selection:
    """One detection item: `field|mod1|mod2: values`."""

    field: str  # the Sigma (CloudTrail) field name, dotted
    modifiers: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # ignored for `exists`
    exists: bool | None = None  # the value of `exists` (only with that modifier)

    def yaml_key(self) -> str:
        return "|".join((self.field, *self.modifiers))

    def yaml_value(self) -> Any:
        if "exists" in self.modifiers:
            return bool(self.exists)
        return self.values[0] if len(self.values) == 1 else list(self.values)


@dataclass(frozen=True)
class Case:
    """One generated rule and the records it is judged on."""

    selections: tuple[Selection, ...]  # OR-ed together
    negate: bool = False
    records: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    def detection(self) -> dict[str, Any]:
        detection: dict[str, Any] = {"base": {"eventName": BASE_EVENT}}
        names = []
        for index, selection in enumerate(self.selections):
            name = f"sel{index}"
            names.append(name)
            detection[name] = {selection.yaml_key(): selection.yaml_value()}
        either = " or ".join(names)
        either = f"({either})" if len(names) > 1 else either
        detection["condition"] = f"base and not {either}" if self.negate else f"base and {either}"
        return detection

    def describe(self) -> str:
        parts = [f"{s.yaml_key()}: {s.yaml_value()!r}" for s in self.selections]
        return ("not " if self.negate else "") + " or ".join(parts)


def parse_sigma_string(text: str) -> list[Part]:
    """Literal text and wildcards, following the spec's escaping rules (see the module docstring)."""
    parts: list[Part] = []
    literal: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, None)
            if following is None:
                literal.append("\\")
            elif following in "*?\\":
                literal.append(following)
            else:
                # A plain backslash before a character without special meaning: both are literal.
                literal.append("\\")
                literal.append(following)
            continue
        if char in "*?":
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(STAR if char == "*" else QMARK)
        else:
            literal.append(char)
    if literal:
        parts.append("".join(literal))
    return parts


def _with_transform(parts: list[Part], modifiers: tuple[str, ...]) -> list[Part]:
    if "contains" in modifiers:
        return [STAR, *parts, STAR]
    if "startswith" in modifiers:
        return [*parts, STAR]
    if "endswith" in modifiers:
        return [STAR, *parts]
    return parts


def _dollar_at_end_of_text(regex: str) -> str:
    """Each unescaped `$` outside a character class as `\\Z` (end of text only)."""
    out, escaped, in_class = [], False, False
    for index, char in enumerate(regex):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = not (char == "]" and regex[index - 1] not in "[^")
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


def _pattern(value: str, modifiers: tuple[str, ...]) -> re.Pattern[str]:
    """A Python regex matching exactly the strings the Sigma value (with its modifiers) matches."""
    if "re" in modifiers:
        flags = 0
        for modifier in modifiers:
            flags |= REGEX_FLAGS.get(modifier, 0)
        return re.compile(value if flags & re.MULTILINE else _dollar_at_end_of_text(value), flags)
    pieces = []
    for part in _with_transform(parse_sigma_string(value), modifiers):
        # DOTALL: a Sigma wildcard matches any character, the newline included.
        pieces.append(".*" if part is STAR else "." if part is QMARK else re.escape(str(part)))
    flags = re.DOTALL | (0 if "cased" in modifiers else re.IGNORECASE)
    return re.compile("".join(pieces), flags)


def value_matches(value: str, modifiers: tuple[str, ...], candidate: str) -> bool:
    pattern = _pattern(value, modifiers)
    if "re" in modifiers:
        return pattern.search(candidate) is not None
    return pattern.fullmatch(candidate) is not None


def field_values(record: dict[str, Any], dotted: str) -> list[str]:
    """Every string the record holds at the path; a list on the way means "each element"."""

    def walk(node: Any, steps: list[str]) -> Iterator[Any]:
        if isinstance(node, list):
            for element in node:
                yield from walk(element, steps)
            return
        if not steps:
            if node is not None:
                yield node
            return
        if isinstance(node, dict) and steps[0] in node:
            yield from walk(node[steps[0]], steps[1:])

    return [str(value) for value in walk(record, dotted.split("."))]


def selection_matches(selection: Selection, record: dict[str, Any]) -> bool:
    present = field_values(record, selection.field)
    if "exists" in selection.modifiers:
        return bool(present) == bool(selection.exists)
    hits = (any(value_matches(v, selection.modifiers, c) for c in present) for v in selection.values)
    return all(hits) if "all" in selection.modifiers else any(hits)


def rule_matches(case: Case, record: dict[str, Any]) -> bool:
    base = any(value_matches(BASE_EVENT, (), name) for name in field_values(record, "eventName"))
    either = any(selection_matches(selection, record) for selection in case.selections)
    return base and (not either if case.negate else either)


def expected_ids(case: Case) -> set[str]:
    return {str(record["eventID"]) for record in case.records if rule_matches(case, record)}
