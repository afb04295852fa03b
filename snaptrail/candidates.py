"""Which CloudTrail records a scan must parse: those some rule can match.

Every shipped rule requires an eventName (a snapshot-area API), and a busy account's trail is ~97%
other events. The scan's reader finds the required names in a file's raw bytes and parses only the
records that carry one; the compiled queries then decide on those exactly as on a full load. The
names are read from each rule's parsed Sigma condition, so a rule of your own is covered as written;
a rule that does not pin eventName (a keyword search, `eventName|contains`, a NOT) makes every record
a candidate, and the scan says so.

A name alone can be a poor sieve (KMS `Decrypt` is a large share of many trails, and one rule wants
only those with an EBS encryption context), so each way a rule can match also carries the literal
text it implies a record holds: a key it requires to exist (`aws:ebs:id":`), a value it compares
equal (`"kms.amazonaws.com"`), the plain run of a wildcard value. They are tested on the record's
bytes lower-cased (Sigma compares case-insensitively), and only text no JSON writer escapes is used
(letters, digits, `.:_@-`), so a record a rule matches always passes; what passes is then decided by
the compiled query as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import product

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaExists, SigmaString, SpecialChars

EVENT_NAME = "eventName"

# Text every JSON writer leaves as it is: a literal made of these is in a record's bytes whenever
# the value or key is in the record.
_PLAIN = re.compile(r"[A-Za-z0-9._:@-]+")
_SHORTEST_LITERAL = 3  # shorter text is in nearly every record: no sieve, only work
# Ways of matching kept per rule before a rule's literals are given up (its names still count).
_MOST_WAYS = 64

Literals = frozenset[bytes]


@dataclass(frozen=True)
class EventNames:
    """The eventName values some rule can match, as a record's bytes spell them: exact names
    (lower-cased, as Sigma compares case-insensitively) and wildcard patterns; and for each, the
    sets of literals one of which a record of that name must hold in full (`literals_for`)."""

    exact: frozenset[bytes]
    wildcards: tuple[re.Pattern[bytes], ...] = ()
    exact_literals: Mapping[bytes, tuple[Literals, ...]] = field(default_factory=dict)
    wildcard_literals: tuple[tuple[Literals, ...], ...] = ()  # in the order of `wildcards`

    def __contains__(self, name: bytes) -> bool:
        return name.lower() in self.exact or any(pattern.fullmatch(name) for pattern in self.wildcards)

    def literals_for(self, name: bytes) -> tuple[Literals, ...] | None:
        """None: no rule can match a record of this name. An empty tuple: every record of it is a
        candidate. Otherwise a record is one only if it holds every literal of one of the sets."""
        ways: list[Literals] = list(self.exact_literals.get(name.lower(), ()))
        for pattern, literals in zip(self.wildcards, self.wildcard_literals, strict=True):
            if pattern.fullmatch(name):
                ways += literals
        if not ways:
            return None
        return () if frozenset() in ways else tuple(sorted(set(ways), key=sorted))


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
# One way a condition can hold: one of these names (None: any name) and every one of these literals.
Way = tuple[frozenset[Required] | None, Literals]
ANY_RECORD: Way = (None, frozenset())


def _value_literal(value: SigmaString) -> bytes | None:
    """Text a JSON string equal to (or matching) the value holds: the whole value in quotes, or the
    longest plain run of a wildcard pattern."""
    if not value.contains_special():
        text = str(value)
        return f'"{text}"'.lower().encode() if _PLAIN.fullmatch(text) else None
    runs = [run for part in value.s if isinstance(part, str) for run in _PLAIN.findall(part)]
    longest = max(runs, key=len, default="")
    return longest.lower().encode() if len(longest) >= _SHORTEST_LITERAL else None


def _key_literal(path: str) -> bytes | None:
    """Text a record holds when the field exists: its last key, closed by the quote and colon."""
    leaf = path.rsplit(".", 1)[-1]
    return f'{leaf}":'.lower().encode() if _PLAIN.fullmatch(leaf) and len(leaf) >= _SHORTEST_LITERAL else None


def _field_ways(node: ConditionFieldEqualsValueExpression) -> list[Way]:
    if node.field == EVENT_NAME and isinstance(node.value, SigmaString):
        if not node.value.contains_special():
            return [(frozenset({(True, str(node.value).lower())}), frozenset())]
        regex = _name_regex(node.value)
        return [(frozenset({(False, regex)}), frozenset())] if regex is not None else [ANY_RECORD]
    literal = None
    if isinstance(node.value, SigmaString):
        literal = _value_literal(node.value)
    elif isinstance(node.value, SigmaExists) and node.value.exists and node.field:
        literal = _key_literal(node.field)
    return [(None, frozenset({literal}))] if literal and len(literal) >= _SHORTEST_LITERAL else [ANY_RECORD]


def _both(first: Way, second: Way) -> Way:
    """A record that holds both ways: either name requirement is sound (the smaller is kept)."""
    names = [n for n in (first[0], second[0]) if n is not None]
    return (min(names, key=len) if names else None), first[1] | second[1]


def _ways(node: ConditionItem) -> list[Way]:
    """The ways the condition can hold. AND needs one way of each branch, OR one way of one branch,
    NOT (and anything else) gives nothing a record must hold."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_ways(node)
    if isinstance(node, ConditionAND):
        ways: list[Way] = [ANY_RECORD]
        for arg in node.args:
            branch = _ways(arg)
            if len(ways) * len(branch) > _MOST_WAYS:  # keep the names, give up this branch's literals
                branch = [(names, frozenset()) for names, _ in branch]
                branch = branch if len(ways) * len(set(branch)) <= _MOST_WAYS else [ANY_RECORD]
            ways = list(dict.fromkeys(_both(a, b) for a, b in product(ways, dict.fromkeys(branch))))
        return ways
    if isinstance(node, ConditionOR):
        return list(dict.fromkeys(way for arg in node.args for way in _ways(arg)))
    if isinstance(node, ConditionNOT):
        return [ANY_RECORD]
    return [ANY_RECORD]


def candidates(rules: Iterable[SigmaRule]) -> Candidates:
    exact: dict[str, set[Literals]] = {}
    patterns: dict[str, set[Literals]] = {}
    unconstrained = []
    for rule in rules:
        try:
            ways = [way for condition in rule.detection.parsed_condition for way in _ways(condition.parsed)]
        except SigmaError:
            continue  # its conversion fails too and the scan names it: it runs on no record
        if not ways or any(names is None for names, _ in ways):
            unconstrained.append(rule.title)
            continue
        for names, literals in ways:
            for plain, text in names or ():
                (exact if plain else patterns).setdefault(text, set()).add(literals)
    if unconstrained or not (exact or patterns):
        return Candidates(None, tuple(sorted(unconstrained)))
    def ordered(sets: set[Literals]) -> tuple[Literals, ...]:
        return tuple(sorted(sets, key=sorted))
    return Candidates(
        EventNames(
            frozenset(text.encode() for text in exact),
            tuple(re.compile(text.encode(), re.IGNORECASE) for text in sorted(patterns)),
            {text.encode(): ordered(sets) for text, sets in sorted(exact.items())},
            tuple(ordered(patterns[text]) for text in sorted(patterns)),
        ),
        (),
    )
