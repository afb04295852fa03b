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
class EventNames:
    """The eventName values some rule can match, as a record's bytes spell them: exact names
    (lower-cased, as Sigma compares case-insensitively) and wildcard patterns."""

    exact: frozenset[bytes]
    wildcards: tuple[re.Pattern[bytes], ...] = ()

    def __contains__(self, name: bytes) -> bool:
        return name.lower() in self.exact or any(pattern.fullmatch(name) for pattern in self.wildcards)


@dataclass(frozen=True)
class Candidates:
    """The event names a record must carry to be parsed (None: every record), and the rules that
    keep it from being narrower."""

    names: EventNames | None
    unconstrained: tuple[str, ...]  # titles of rules that pin no eventName


def _name_regex(value: SigmaString) -> str | None:
    """A Sigma value of eventName as a regex over the name (API names are plain ASCII words: no
    quote or backslash to meet inside their JSON string)."""
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


# A required eventName value: (True, lower-cased name) for a plain name, (False, regex) for a pattern.
Required = tuple[bool, str]


def _required(node: ConditionItem) -> set[Required] | None:
    """Values of which eventName must match one for the condition to hold, or None if none is
    required. AND needs one constrained branch; OR needs every branch constrained."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field == EVENT_NAME and isinstance(node.value, SigmaString):
            if not node.value.contains_special():
                return {(True, str(node.value).lower())}
            regex = _name_regex(node.value)
            return {(False, regex)} if regex is not None else None
        return None
    if isinstance(node, ConditionAND):
        constrained = [found for found in map(_required, node.args) if found is not None]
        return min(constrained, key=len) if constrained else None
    if isinstance(node, ConditionOR):
        union: set[Required] = set()
        for arg in node.args:
            found = _required(arg)
            if found is None:
                return None
            union |= found
        return union
    return None  # NOT, keywords, anything else: no name is required


def candidates(rules: Iterable[SigmaRule]) -> Candidates:
    values: set[Required] = set()
    unconstrained = []
    for rule in rules:
        required: set[Required] | None = set()
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
            values |= required
    if unconstrained or not values:
        return Candidates(None, tuple(sorted(unconstrained)))
    exact = frozenset(text.encode() for plain, text in values if plain)
    wildcards = tuple(re.compile(text.encode(), re.IGNORECASE) for plain, text in sorted(values) if not plain)
    return Candidates(EventNames(exact, wildcards), ())
