"""Which CloudTrail records a scan must parse: those some rule can match.

Every shipped rule requires an eventName (a snapshot-area API), and a busy account's trail is ~97%
other events. The scan's reader finds the required names in a file's raw bytes and parses only the
records that carry one; the compiled queries then decide on those exactly as on a full load. The
names are read from each rule's parsed Sigma condition, so a rule of your own is covered as written;
a rule that does not pin eventName (a keyword search, `eventName|contains`, a NOT) makes every record
a candidate, and the scan says so.

A name alone can be a poor sieve (KMS `Decrypt` is a large share of many trails, and one rule wants
only those with an EBS encryption context), so each way a rule can match also carries the literal
text it implies a record holds: a key it requires to exist (`aws:ebs:id":`, as written: JSON keys
and every engine's paths are case-sensitive), a value it compares equal (`"kms.amazonaws.com"`) or
the plain run of a wildcard value (tested on the record's bytes lower-cased, as Sigma compares values
case-insensitively). Only text no JSON writer escapes is used (letters, digits, `.:_@-`), so a record
a rule matches always passes; what passes is then decided by the compiled query as before.
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
class Need:
    """What one way of matching needs in a record's bytes: these keys as written, and these values
    in the lower-cased bytes."""

    keys: Literals = frozenset()
    values: Literals = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys or self.values)

    def met_by(self, body: bytes, lowered: list[bytes]) -> bool:
        """`lowered` holds the body lower-cased once the first value test needed it."""
        if not all(key in body for key in self.keys):
            return False
        if not self.values:
            return True
        if not lowered:
            lowered.append(body.lower())
        return all(value in lowered[0] for value in self.values)


@dataclass(frozen=True)
class EventNames:
    """The eventName values some rule can match, as a record's bytes spell them: exact names
    (lower-cased, as Sigma compares case-insensitively) and wildcard patterns; and for each, the
    needs one of which a record of that name must meet (`needs_for`)."""

    exact: frozenset[bytes]
    wildcards: tuple[re.Pattern[bytes], ...] = ()
    exact_needs: Mapping[bytes, tuple[Need, ...]] = field(default_factory=dict)
    wildcard_needs: tuple[tuple[Need, ...], ...] = ()  # in the order of `wildcards`
    # Answers of needs_for per name as a record spells it (a trail has a few hundred names).
    _answers: dict[bytes, tuple[Need, ...] | None] = field(default_factory=dict, compare=False, repr=False)

    def __contains__(self, name: bytes) -> bool:
        return name.lower() in self.exact or any(pattern.fullmatch(name) for pattern in self.wildcards)

    def needs_for(self, name: bytes) -> tuple[Need, ...] | None:
        """None: no rule can match a record of this name. An empty tuple: every record of it is a
        candidate. Otherwise a record is one only if it meets one of the needs."""
        if name in self._answers:
            return self._answers[name]
        ways: list[Need] = list(self.exact_needs.get(name.lower(), ()))
        for pattern, needs in zip(self.wildcards, self.wildcard_needs, strict=True):
            if pattern.fullmatch(name):
                ways += needs
        answer = None if not ways else () if not all(ways) else tuple(sorted(set(ways), key=_need_order))
        self._answers[name] = answer
        return answer


def _need_order(need: Need) -> tuple[list[bytes], list[bytes]]:
    return sorted(need.keys), sorted(need.values)


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
# One way a condition can hold: one of these names (None: any name) and what the record must hold.
Way = tuple[frozenset[Required] | None, Need]
ANY_RECORD: Way = (None, Need())


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
    """Text a record holds when the field exists: its last key as written, closed by quote and colon."""
    leaf = path.rsplit(".", 1)[-1]
    return f'{leaf}":'.encode() if _PLAIN.fullmatch(leaf) and len(leaf) >= _SHORTEST_LITERAL else None


def _field_ways(node: ConditionFieldEqualsValueExpression) -> list[Way]:
    if node.field == EVENT_NAME and isinstance(node.value, SigmaString):
        if not node.value.contains_special():
            return [(frozenset({(True, str(node.value).lower())}), Need())]
        regex = _name_regex(node.value)
        return [(frozenset({(False, regex)}), Need())] if regex is not None else [ANY_RECORD]
    if isinstance(node.value, SigmaString):
        value = _value_literal(node.value)
        return [(None, Need(values=frozenset({value})))] if value else [ANY_RECORD]
    if isinstance(node.value, SigmaExists) and node.value.exists and node.field:
        key = _key_literal(node.field)
        return [(None, Need(keys=frozenset({key})))] if key else [ANY_RECORD]
    return [ANY_RECORD]


def _both(first: Way, second: Way) -> Way:
    """A record that holds both ways: either name requirement is sound (the smaller is kept)."""
    names = [n for n in (first[0], second[0]) if n is not None]
    need = Need(first[1].keys | second[1].keys, first[1].values | second[1].values)
    return (min(names, key=len) if names else None), need


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
                branch = [(names, Need()) for names, _ in branch]
                branch = branch if len(ways) * len(set(branch)) <= _MOST_WAYS else [ANY_RECORD]
            ways = list(dict.fromkeys(_both(a, b) for a, b in product(ways, dict.fromkeys(branch))))
        return ways
    if isinstance(node, ConditionOR):
        return list(dict.fromkeys(way for arg in node.args for way in _ways(arg)))
    if isinstance(node, ConditionNOT):
        return [ANY_RECORD]
    return [ANY_RECORD]


def candidates(rules: Iterable[SigmaRule]) -> Candidates:
    exact: dict[str, set[Need]] = {}
    patterns: dict[str, set[Need]] = {}
    unconstrained = []
    for rule in rules:
        try:
            ways = [way for condition in rule.detection.parsed_condition for way in _ways(condition.parsed)]
        except SigmaError:
            continue  # its conversion fails too and the scan names it: it runs on no record
        if not ways or any(names is None for names, _ in ways):
            unconstrained.append(rule.title)
            continue
        for names, need in ways:
            for plain, text in names or ():
                (exact if plain else patterns).setdefault(text, set()).add(need)
    if unconstrained or not (exact or patterns):
        return Candidates(None, tuple(sorted(unconstrained)))

    def ordered(needs: set[Need]) -> tuple[Need, ...]:
        return tuple(sorted(needs, key=_need_order))

    return Candidates(
        EventNames(
            frozenset(text.encode() for text in exact),
            tuple(re.compile(text.encode(), re.IGNORECASE) for text in sorted(patterns)),
            {text.encode(): ordered(sets) for text, sets in sorted(exact.items())},
            tuple(ordered(patterns[text]) for text in sorted(patterns)),
        ),
        (),
    )
