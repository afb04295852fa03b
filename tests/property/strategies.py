"""Hypothesis strategies: Sigma values, modifiers and field kinds, and the CloudTrail records that
probe them (positives, one-character near misses, the raw Sigma text, absent fields, array variants).

Records are built with `test_semantics.record` (one CloudTrail shape for the semantic tests). Which
records match is never decided here: `sigma_reference` judges every record, so a generator that
misses its aim only weakens a probe, it cannot make a test pass or fail wrongly.
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from hypothesis import strategies as st
from test_semantics import record

from property.sigma_reference import (
    BASE_EVENT,
    QMARK,
    STAR,
    Case,
    Selection,
    parse_sigma_string,
)

# Fields of each kind that every target's storage really has (the registry's envelope and the
# snapshot-sharing call; Elastic maps them to keyword / flattened fields, Sentinel to columns).
SCALAR_FIELDS = ("userAgent", "awsRegion")
NESTED_FIELD = "userIdentity.sessionContext.sessionIssuer.arn"
ARRAY_FIELD = "requestParameters.createVolumePermission.add.items.userId"  # items[] in the registry
FIELDS = {**dict.fromkeys(SCALAR_FIELDS, "scalar"), NESTED_FIELD: "nested", ARRAY_FIELD: "array"}

# Characters stored in records. No empty strings are ever stored: the Elastic integration's ingest
# pipeline drops "" (snaptrail.verify.storage.elastic), so an empty value would be an absent field
# there and present elsewhere — a storage difference, not a compiler defect.
_ASCII = "abcXYZ019"
_PUNCT = " \"'|()[]{}<>:=!~^&,;/+-#%@$._`"
_SPACE = "\t\n"
# Cased letters with one-to-one case mappings, a combining mark, astral characters, CJK, NBSP.
_UNICODE = "éÉΣσ\u0301😀𝔘漢\u00a0"
RECORD_CHARS = _ASCII + _PUNCT + _SPACE + "*?\\" + _UNICODE
_LITERAL_CHARS = _ASCII + _PUNCT + _SPACE + _UNICODE  # no wildcard or escape meaning in Sigma

# Words and operators reserved in one of the target languages (Lucene, KQL, SPL, EQL, ES|QL, SQL).
RESERVED = (
    "AND", "OR", "NOT", "TO", "and", "or", "not", "_exists_", "null", "true", "in", "has", "contains",
    "matches regex", "like", "rlike", "where", "by", "sequence", "any", "|", "||", "&&", "!", "~",
    "NULL", "CASE(", "TERM(", "search", "'", "''", '"', "\\n", "${x}", "%", "_",
)  # fmt: skip
_ESCAPES = ("\\*", "\\?", "\\\\", "\\a", '\\"', "\\n", "\\x")

_literal = st.text(alphabet=_LITERAL_CHARS, min_size=1, max_size=4)
_token = st.one_of(
    _literal,
    st.sampled_from(RESERVED),
    st.sampled_from(("*", "?")),
    st.sampled_from(_ESCAPES),
)
_short_value = st.lists(_token, max_size=6).map("".join)
# Very long values: mixed-case letters (the expensive case for case-insensitive automata) with
# the odd special character.
_long_value = st.text(alphabet='aAbBcCxXyYzZ-_ "\\', min_size=150, max_size=260)
SIGMA_VALUES = st.one_of(_short_value, _short_value, _short_value, st.just(""), _long_value)

# Regular expressions from a small grammar whose every construct means the same in Python's re,
# RE2 (Kusto), Java/Lucene regexps (where the backend must translate or refuse) and PCRE (SPL).
_RE_META = set(".^$*+?{}[]|()\\")


def _re_literal(text: str) -> str:
    return "".join(f"\\{c}" if c in _RE_META else c for c in text)


_re_atom = st.one_of(
    st.text(alphabet=_ASCII + " \"'/:=-#%@,é😀\n", min_size=1, max_size=3).map(_re_literal),
    st.sampled_from((".", "[a-c]", "[^a]", "\\d", "[XYZ]", "\\.", "\\*", "\\\\", '""')),
    st.sampled_from(("(a|b)", "(X|abc)", "(?:ab|c)")),
)
_re_piece = st.tuples(_re_atom, st.sampled_from(("", "", "", "*", "+", "?", "{1,2}"))).map("".join)
REGEXES = st.tuples(
    st.sampled_from(("", "", "^")),
    st.lists(_re_piece, min_size=1, max_size=5),
    st.sampled_from(("", "", "$")),
).map(lambda t: t[0] + "".join(t[1]) + t[2])


@st.composite
def selections(draw: st.DrawFn, field: str | None = None) -> Selection:
    field = field if field is not None else draw(st.sampled_from(tuple(FIELDS)))
    kind = draw(st.sampled_from(("plain", "contains", "startswith", "endswith", "re", "exists")))
    if kind == "exists":
        return Selection(field, ("exists",), exists=draw(st.booleans()))
    if kind == "re":
        values = tuple(draw(st.lists(REGEXES, min_size=1, max_size=2)))
        flags = tuple(sorted(draw(st.sets(st.sampled_from(("i", "m", "s")), max_size=2))))
        every = ("all",) if len(values) > 1 and draw(st.booleans()) else ()
        return Selection(field, ("re", *flags, *every), values)
    values = tuple(draw(st.lists(SIGMA_VALUES, min_size=1, max_size=3)))
    modifiers: list[str] = [] if kind == "plain" else [kind]
    if len(values) > 1 and draw(st.booleans()):
        modifiers.append("all")
    if draw(st.booleans()):
        modifiers.append("cased")
    return Selection(field, tuple(modifiers), values)


def _instance(value: str, modifiers: tuple[str, ...], rnd: random.Random) -> str:
    """A string the Sigma value should match: wildcards filled, case flipped where insensitive,
    text added around it for contains/startswith/endswith."""
    out = []
    for part in parse_sigma_string(value):
        if part is STAR:
            out.append("".join(rnd.choice(RECORD_CHARS) for _ in range(rnd.randint(0, 3))))
        elif part is QMARK:
            out.append(rnd.choice(RECORD_CHARS))
        else:
            text = str(part)
            if "cased" not in modifiers:
                text = "".join(c.swapcase() if rnd.random() < 0.3 else c for c in text)
            out.append(text)
    around = "".join(rnd.choice(RECORD_CHARS) for _ in range(rnd.randint(1, 3)))
    if "contains" in modifiers:
        return around + "".join(out) + around[::-1]
    if "startswith" in modifiers:
        return "".join(out) + around
    if "endswith" in modifiers:
        return around + "".join(out)
    return "".join(out)


def near_miss(text: str, rnd: random.Random) -> str:
    """One character deleted, replaced, inserted or case-flipped."""
    if not text:
        return rnd.choice(_LITERAL_CHARS)
    index = rnd.randrange(len(text))
    operation = rnd.choice(("delete", "replace", "insert", "swapcase"))
    if operation == "delete":
        return text[:index] + text[index + 1 :]
    if operation == "replace":
        return text[:index] + rnd.choice(RECORD_CHARS) + text[index + 1 :]
    if operation == "insert":
        return text[:index] + rnd.choice(RECORD_CHARS) + text[index:]
    return text[:index] + text[index].swapcase() + text[index + 1 :]


@st.composite
def _candidates(draw: st.DrawFn, selection: Selection, rnd: random.Random) -> list[str]:
    """Strings to store in the selection's field: positives, near misses, the raw Sigma text."""
    if "exists" in selection.modifiers:
        return [draw(st.text(alphabet=RECORD_CHARS, min_size=1, max_size=5))]
    found: list[str] = []
    for value in selection.values:
        if "re" in selection.modifiers:
            flags = sum(re.RegexFlag[{"i": "I", "m": "M", "s": "S"}[m]] for m in selection.modifiers
                        if m in ("i", "m", "s"))  # fmt: skip
            positive = draw(st.from_regex(re.compile(value, flags), alphabet=RECORD_CHARS).filter(bool))
        else:
            positive = _instance(value, selection.modifiers, rnd)
        found += [positive, near_miss(positive, rnd), value]
    return [text for text in dict.fromkeys(found) if text]  # stored strings are never empty


def build_record(event_id: str, values: dict[str, Any], event_name: str = BASE_EVENT) -> dict[str, Any]:
    """A CloudTrail record holding `values` (field -> None for absent, a string, or for the array
    field a tuple of elements, None being an element without that key)."""
    result = record(event_id, event_name)
    for field, value in values.items():
        kind = FIELDS[field]
        if kind == "scalar":
            if value is None:
                del result[field]
            else:
                result[field] = value
        elif kind == "nested":
            if value is not None:
                result["userIdentity"] = {
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLEROLE00001:session",
                    "arn": "arn:aws:sts::111122223333:assumed-role/Admin/session",
                    "accountId": "111122223333",
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE00001", "arn": value,
                                          "accountId": "111122223333", "userName": "Admin"},
                        "attributes": {"creationDate": "2026-03-02T09:00:00Z", "mfaAuthenticated": "false"},
                    },
                }  # fmt: skip
        else:
            if value is not None:
                items = [{"userId": v} if v is not None else {"group": "all"} for v in value]
                result["requestParameters"] = {
                    "snapshotId": "snap-0123456789abcdef0",
                    "attributeType": "CREATE_VOLUME_PERMISSION",
                    "createVolumePermission": {"add": {"items": items}},
                }
    return result


def records_for(selections_: tuple[Selection, ...], pools: dict[str, list[str]], rnd: random.Random,
                prefix: str) -> tuple[dict[str, Any], ...]:  # fmt: skip
    """Each candidate alone in its field, array variants, an absent field, and one record of another
    eventName (the `base` selection must exclude it)."""
    fields = list(dict.fromkeys(s.field for s in selections_))
    specs: list[dict[str, Any]] = [dict.fromkeys(fields)]  # every field absent
    for field in fields:
        for candidate in pools[field]:
            specs.append({field: (candidate,) if FIELDS[field] == "array" else candidate})
        if FIELDS[field] == "array" and pools[field]:
            chosen = rnd.sample(pools[field], min(len(pools[field]), 3))
            specs.append({field: (None, *chosen)})  # the value in a later element
            specs.append({field: (None,)})  # elements, none carrying the key
    if len(fields) > 1:  # both fields set at once
        specs.append({field: (pools[field][0],) if FIELDS[field] == "array" else pools[field][0]
                      for field in fields if pools[field]})  # fmt: skip
    built = [build_record(f"{prefix}-r{i}", spec) for i, spec in enumerate(specs)]
    if len(specs) > 1:
        built.append(build_record(f"{prefix}-other", specs[1], event_name="CreateSnapshot"))
    return tuple(built)


@st.composite
def cases(draw: st.DrawFn, prefix: str = "c") -> Case:
    first = draw(selections())
    chosen = [first]
    if draw(st.integers(0, 4)) == 0:  # sometimes a second selection, OR-ed (e.g. `|cased` or `|re`)
        chosen.append(draw(selections()))
    rnd = draw(st.randoms(use_true_random=False))
    pools: dict[str, list[str]] = {}
    for selection in chosen:
        pools.setdefault(selection.field, []).extend(draw(_candidates(selection, rnd)))
    pools = {field: list(dict.fromkeys(pool)) for field, pool in pools.items()}
    negate = draw(st.booleans())
    return Case(tuple(chosen), negate, records_for(tuple(chosen), pools, rnd, prefix))


def renumbered(case: Case, prefix: str) -> Case:
    """The case with its records' eventIDs made unique within a batch."""
    records = []
    for original in case.records:
        copied = copy.deepcopy(original)
        copied["eventID"] = f"{prefix}-{original['eventID'].rsplit('-', 1)[-1]}"
        records.append(copied)
    return Case(case.selections, case.negate, tuple(records))


@st.composite
def batches(draw: st.DrawFn, min_size: int, max_size: int) -> list[Case]:
    drawn = draw(st.lists(cases(), min_size=min_size, max_size=max_size))
    return [renumbered(case, f"c{index}") for index, case in enumerate(drawn)]
