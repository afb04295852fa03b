"""Value rendering that is specific to Lucene's regexp dialect (Elasticsearch query_string, EQL, ES|QL
RLIKE) and not in pySigma. Everything else goes through pySigma's SigmaString and regex handling.

Lucene's RegExp (with the ALL flags query_string, EQL and RLIKE use) reserves
`. ? + * | { } [ ] ( ) " \\ # @ & < > ~` outside character classes; `"` quotes a literal, `#` is the
empty language, `@` any string, `&` intersection, `~` complement and `<n-m>` a numeric interval. Any
other character, control characters included, is itself; `\\c` is the literal `c` for every `c`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Python's own parser of its regex syntax (Sigma regexes are PCRE-style; Python's dialect is the one
# snaptrail's rules and tests are written in): translating its parse tree is exact where a node has a
# Lucene equivalent and refuses the rest, instead of guessing from the pattern's text.
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

from sigma.types import SigmaString, SpecialChars

# Characters with a meaning in Lucene's regexp syntax (RegExp.java): escaped to stay literal. `/` is
# not reserved by RegExp but ends a query_string regexp; escaping it is harmless everywhere.
_LUCENE_REGEX_RESERVED = frozenset('.?+*|{}[]()"\\#@&<>~/')
# Inside a character class Lucene reads `\c` as `c`, `-` as a range and `]` as the end; `^` negates
# only in the first place, `[` is escaped for readers.
_LUCENE_CLASS_RESERVED = frozenset("]\\-^[") | _LUCENE_REGEX_RESERVED

# Elasticsearch rejects a regexp longer than `index.max_regex_length` (default 1000) at run time, and
# query_string applies it too (elasticsearch#31136); Lucene refuses to determinize an automaton of
# more than 10,000 states (Operations.DEFAULT_MAX_DETERMINIZED_STATES, also Elasticsearch's default).
MAX_REGEX_LENGTH = 1000
MAX_DETERMINIZED_STATES = 10_000


class NotTranslatable(ValueError):
    """A Sigma regex with no exact Lucene equivalent; the message says which part."""


def _case_variants(char: str) -> list[str]:
    """The single characters Sigma's case-insensitive match takes for `char` (upper, then lower)."""
    variants = [char.upper(), char.lower()]
    single = [v for v in variants if len(v) == 1]
    if char not in single:
        single.append(char)
    return list(dict.fromkeys(single))


def _class_char(char: str) -> str:
    return "\\" + char if char in _LUCENE_CLASS_RESERVED else char


def lucene_regex_literal(text: str, case_insensitive: bool) -> str:
    """Lucene regexp for a literal text; case-insensitive by character classes (`[Aa]`), because
    Lucene regexps have no `(?i)` and keyword fields are case-sensitive."""
    out = []
    for char in text:
        variants = _case_variants(char) if case_insensitive else [char]
        if len(variants) > 1:
            out.append("[" + "".join(_class_char(v) for v in variants) + "]")
        elif char in _LUCENE_REGEX_RESERVED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def lucene_regex_for_wildcards(value: SigmaString, case_insensitive: bool) -> str:
    """The wildcard value as a full-match Lucene regexp: text through lucene_regex_literal, wildcards
    as `.*` and `.` (pySigma's conversion, with the text already escaped)."""
    literal = value.map_str_parts(lambda text: lucene_regex_literal(text, case_insensitive))
    return literal.convert(escape_char=None, wildcard_multi=".*", wildcard_single=".")


@dataclass(frozen=True)
class _Flags:
    dotall: bool
    multiline: bool


def _repeat_suffix(low: int, high: int) -> str:
    if high == sre.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


_ATOMS = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.SUBPATTERN}


def _class_items(items: Iterable[tuple[object, object]]) -> str:
    out = []
    for op, arg in items:
        if op is sre.LITERAL:
            out.append(_class_char(chr(arg)))  # type: ignore[arg-type]
        elif op is sre.RANGE:
            low, high = arg  # type: ignore[misc]
            out.append(f"{_class_char(chr(low))}-{_class_char(chr(high))}")
        elif op is sre.CATEGORY and arg is sre.CATEGORY_DIGIT:
            out.append("0-9")  # PCRE's and RE2's \d: ASCII digits
        elif op is sre.CATEGORY and arg is sre.CATEGORY_WORD:
            out.append("0-9A-Za-z_")  # PCRE's and RE2's \w
        elif op is sre.CATEGORY:
            raise NotTranslatable(f"the class escape {arg} (engines disagree on it or Lucene lacks it)")
        else:
            raise NotTranslatable(f"{op} in a character class")
    return "".join(out)


def _node(op: object, arg: object, flags: _Flags) -> str:
    if op is sre.LITERAL:
        return lucene_regex_literal(chr(arg), False)  # type: ignore[arg-type]
    if op is sre.NOT_LITERAL:
        return "[^" + _class_char(chr(arg)) + "]"  # type: ignore[arg-type]
    if op is sre.ANY:
        # Without the s flag `.` matches anything but a newline; Lucene's `.` matches every character.
        return "." if flags.dotall else "[^\n]"
    if op is sre.IN:
        items = list(arg)  # type: ignore[call-overload]
        negate = bool(items) and items[0][0] is sre.NEGATE
        if negate:
            items = items[1:]
        if len(items) == 1 and items[0][0] is sre.CATEGORY and not negate:
            category = items[0][1]
            if category is sre.CATEGORY_NOT_DIGIT:
                return "[^0-9]"
            if category is sre.CATEGORY_NOT_WORD:
                return "[^0-9A-Za-z_]"
        return ("[^" if negate else "[") + _class_items(items) + "]"
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        # Laziness does not change which texts match in full, which is all a Lucene regexp decides.
        low, high, sub = arg  # type: ignore[misc]
        body = _sequence(sub, flags)
        if not (len(sub) == 1 and sub[0][0] in _ATOMS):
            body = f"({body})"
        return body + _repeat_suffix(low, high)
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = arg  # type: ignore[misc]
        if add_flags or del_flags:
            raise NotTranslatable("scoped inline flags (?flags:...)")
        return f"({_sequence(sub, flags) or '()'})"
    if op is sre.BRANCH:
        # Always in parentheses: Python's parser splices a non-capturing group's alternation into
        # the enclosing sequence (`x(?:ab|c)y` is x, BRANCH, y), so a bare `|` would split it.
        return "(" + "|".join(_sequence(branch, flags) or "()" for branch in arg[1]) + ")"  # type: ignore[index]
    raise NotTranslatable(
        {
            sre.AT: "an anchor or boundary that is not at the start or end",
            sre.GROUPREF: "a back-reference",
            sre.ASSERT: "a lookaround",
            sre.ASSERT_NOT: "a lookaround",
        }.get(op, str(op))  # type: ignore[call-overload]
    )


def _sequence(items: Iterable[tuple[object, object]], flags: _Flags) -> str:
    return "".join(_node(op, arg, flags) for op, arg in items)


_STARTS = {sre.AT_BEGINNING, sre.AT_BEGINNING_STRING}
_ENDS = {sre.AT_END, sre.AT_END_STRING}


def python_regex_to_lucene(regex: str, dotall: bool = False, multiline: bool = False) -> str:
    """Sigma regexes search (unanchored); Lucene regexps match the whole value. The equivalent full-match
    Lucene regexp; NotTranslatable naming the construct Lucene cannot express exactly."""
    try:
        parsed = sre_parse.parse(regex, 0)
    except re.error as error:
        raise NotTranslatable(f"it is not a valid regular expression ({error})") from None
    inline = parsed.state.flags & ~(re.UNICODE | re.DEBUG)
    if inline:
        raise NotTranslatable("inline flags such as (?i) (use Sigma's |re modifiers)")
    items = list(parsed)
    start, end = ".*", ".*"
    if items and items[0][0] is sre.AT and items[0][1] in _STARTS:
        if multiline and items[0][1] is sre.AT_BEGINNING:
            raise NotTranslatable("^ with the m flag (line starts)")
        items, start = items[1:], ""
    if items and items[-1][0] is sre.AT and items[-1][1] in _ENDS:
        if multiline and items[-1][1] is sre.AT_END:
            raise NotTranslatable("$ with the m flag (line ends)")
        # RE2's (DuckDB's) `$` without the m flag: the end of the text.
        items, end = items[:-1], ""
    body = _sequence(items, _Flags(dotall=dotall, multiline=multiline))
    return f"{start}({body}){end}" if (start or end) else body


def unanchored_to_lucene(regex: str) -> str | None:
    """python_regex_to_lucene without flags, or None where it is not translatable."""
    try:
        return python_regex_to_lucene(regex)
    except NotTranslatable:
        return None


def wildcard_determinized_states(value: SigmaString, case_insensitive: bool, cap: int) -> int:
    """How many states the determinized automaton of a wildcard value's full match has (the subset
    construction Lucene runs before it minimizes), counting up to `cap`. A `?` after a `*` can make it
    exponential (`*a??????????????b*`), which Lucene and Elasticsearch refuse to run."""
    positions: list[frozenset[str] | str | None] = []  # a set of characters, None for `?`, "*" for `*`
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            positions.append("*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            positions.append(None)
        else:
            for char in str(part):
                positions.append(frozenset(_case_variants(char) if case_insensitive else [char]))
    alphabet = [*sorted({c for p in positions if isinstance(p, frozenset) for c in p}), "\uffff-other"]

    def closure(states: Iterable[int]) -> frozenset[int]:
        out = set(states)
        stack = list(out)
        while stack:
            i = stack.pop()
            if i < len(positions) and positions[i] == "*" and i + 1 not in out:
                out.add(i + 1)
                stack.append(i + 1)
        return frozenset(out)

    def step(states: frozenset[int], char: str) -> frozenset[int]:
        nxt = []
        for i in states:
            if i >= len(positions):
                continue
            p = positions[i]
            if p == "*":
                nxt.append(i)
            elif p is None or (isinstance(p, frozenset) and char in p):
                nxt.append(i + 1)
        return closure(nxt)

    first = closure([0])
    seen = {first}
    todo = [first]
    while todo and len(seen) <= cap:
        current = todo.pop()
        for char in alphabet:
            target = step(current, char)
            if target and target not in seen:
                seen.add(target)
                todo.append(target)
    return len(seen)


def has_letters(text: str) -> bool:
    """Whether case folding changes the text (a value without letters needs no case-insensitive form)."""
    return any(char.lower() != char.upper() for char in text)
