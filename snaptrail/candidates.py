"""Which CloudTrail records a scan must parse: those whose eventName some rule can match.

Every shipped rule requires an eventName (a snapshot-area API), and a busy account's trail is ~97%
other events. The scan's reader finds the required names in a file's raw bytes and parses only the
records that carry one; the compiled queries then decide on those exactly as on a full load. The
names are read from each rule's parsed Sigma condition, so a rule of your own is covered as written;
a rule that does not pin eventName (a keyword search, `eventName|contains`, a NOT) makes every record
a candidate, and the scan says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionItem, ConditionOR
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

EVENT_NAME = "eventName"


@dataclass(frozen=True)
class Candidates:
    """The byte pattern a record must contain to be parsed (None: every record), and the rules that
    keep it from being narrower."""

    pattern: re.Pattern[bytes] | None
    unconstrained: tuple[str, ...]  # titles of rules that pin no eventName


def _name_regex(value: SigmaString) -> str | None:
    """A Sigma value of eventName as a regex over the JSON string's content (API names are plain
    ASCII words: no quote or backslash to meet inside the JSON string)."""
    parts = []
    for part in value.s:
        if isinstance(part, str):
            if '"' in part or "\\" in part:
                return None
            parts.append(re.escape(part))
        elif part == SpecialChars.WILDCARD_MULTI:
            parts.append('[^"]*')
        elif part == SpecialChars.WILDCARD_SINGLE:
            parts.append('[^"]')
        else:
            return None
    return "".join(parts)


def _required(node: ConditionItem) -> set[str] | None:
    """Regexes of which one eventName must match for the condition to hold, or None if none is
    required. AND needs one constrained branch; OR needs every branch constrained."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field == EVENT_NAME and isinstance(node.value, SigmaString):
            regex = _name_regex(node.value)
            return {regex} if regex is not None else None
        return None
    if isinstance(node, ConditionAND):
        constrained = [found for found in map(_required, node.args) if found is not None]
        return min(constrained, key=len) if constrained else None
    if isinstance(node, ConditionOR):
        union: set[str] = set()
        for arg in node.args:
            found = _required(arg)
            if found is None:
                return None
            union |= found
        return union
    return None  # NOT, keywords, anything else: no name is required


def candidates(rules: Iterable[SigmaRule]) -> Candidates:
    names: set[str] = set()
    unconstrained = []
    for rule in rules:
        required: set[str] | None = set()
        try:
            for condition in rule.detection.parsed_condition:
                found = _required(condition.parsed)
                if found is None:
                    required = None
                    break
                required |= found  # type: ignore[operator]
        except SigmaError:
            continue  # its conversion fails too and the scan names it: it runs on no record

        if required is None:
            unconstrained.append(rule.title)
        else:
            names |= required
    if unconstrained or not names:
        return Candidates(None, tuple(sorted(unconstrained)))
    # Case-insensitive, as Sigma compares strings; the key itself is written by CloudTrail exactly.
    alternatives = "|".join(sorted(names))
    pattern = re.compile(f'"{EVENT_NAME}"\\s*:\\s*"(?i:{alternatives})"'.encode())
    return Candidates(pattern, ())
