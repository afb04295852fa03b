"""Turning Sigma values into the pieces each query language needs (plain text, LIKE patterns, regexes)."""

from __future__ import annotations

import re
from collections.abc import Callable

from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString, SpecialChars

Piece = str | SpecialChars


def pieces(value: SigmaString) -> list[Piece]:
    """The value as literal text runs and wildcard markers (placeholders are resolved earlier)."""
    result: list[Piece] = []
    for part in value.s:
        if isinstance(part, str):
            result.append(part)
        elif part in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE):
            result.append(part)
        else:
            raise ValueError(f"unresolved special part {part!r} in value '{value}'")
    return result


def has_wildcards(value: SigmaString) -> bool:
    return any(isinstance(piece, SpecialChars) for piece in pieces(value))


def plain_text(value: SigmaString) -> str:
    """The value's text; only for values without wildcards."""
    return "".join(piece for piece in pieces(value) if isinstance(piece, str))


def wildcard_shape(value: SigmaString) -> tuple[str, str] | None:
    """('startswith'|'endswith'|'contains'|'equals', text) when the value is one literal run with
    a leading and/or trailing `*` only; None for any other wildcard use."""
    parts = pieces(value)
    multi = SpecialChars.WILDCARD_MULTI
    leading = bool(parts) and parts[0] == multi
    trailing = len(parts) > 1 and parts[-1] == multi
    core = parts[(1 if leading else 0) : (len(parts) - 1 if trailing else len(parts))]
    if any(isinstance(piece, SpecialChars) for piece in core):
        return None
    text = "".join(str(piece) for piece in core)
    if leading and trailing:
        return ("contains", text)
    if leading:
        return ("endswith", text)
    if trailing:
        return ("startswith", text)
    return ("equals", text)


def render(value: SigmaString, multi: str, single: str, literal: Callable[[str], str]) -> str:
    """The value in a target's pattern syntax: its wildcards as `multi`/`single`, text through `literal`."""
    out = []
    for piece in pieces(value):
        if piece == SpecialChars.WILDCARD_MULTI:
            out.append(multi)
        elif piece == SpecialChars.WILDCARD_SINGLE:
            out.append(single)
        else:
            out.append(literal(str(piece)))
    return "".join(out)


def like_pattern(value: SigmaString, escape: str = "\\") -> str:
    """SQL LIKE pattern: `%`/`_` wildcards, literal `%`, `_` and the escape character escaped."""
    special = re.compile("([%_" + re.escape(escape) + "])")
    return render(value, "%", "_", lambda text: special.sub(lambda m: escape + m.group(1), text))


def anchored_regex(value: SigmaString) -> str:
    """A full-match RE2/PCRE regex equivalent to the wildcard value (`^...$`)."""
    return "^" + render(value, ".*", ".", re.escape) + "$"


# Characters with a meaning in Lucene's regexp syntax (RegExp.java): escaped to stay literal.
_LUCENE_REGEX_RESERVED = set('.?+*|{}[]()"\\#@&<>~/')


def lucene_regex_literal(text: str, case_insensitive: bool) -> str:
    """Lucene regexp for a literal text; case-insensitive by character classes (`[Aa]`), because
    Lucene regexps have no `(?i)` and keyword fields are case-sensitive."""
    out = []
    for char in text:
        if case_insensitive and char.lower() != char.upper():
            out.append(f"[{char.upper()}{char.lower()}]")
        elif char in _LUCENE_REGEX_RESERVED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def lucene_regex_for_wildcards(value: SigmaString, case_insensitive: bool) -> str:
    return render(value, ".*", ".", lambda text: lucene_regex_literal(text, case_insensitive))


# Regex features outside Lucene's RegExp dialect (used by Elasticsearch query_string, EQL and
# ES|QL RLIKE). A Sigma regex using them cannot be translated exactly.
_NON_LUCENE_FEATURES = re.compile(r"\(\?|\\[dDwWsSbB]|\\[0-9]|\$\)|\^\(")


def unanchored_to_lucene(regex: str) -> str | None:
    """Sigma regexes search (unanchored); Lucene regexps must match the whole value. Returns the
    equivalent full-match Lucene regexp, or None when the regex uses features Lucene lacks."""
    if _NON_LUCENE_FEATURES.search(regex):
        return None
    body = regex
    start = ".*"
    end = ".*"
    if body.startswith("^"):
        body, start = body[1:], ""
    if body.endswith("$") and not body.endswith("\\$"):
        body, end = body[:-1], ""
    if "^" in body.replace("[^", "") or ("$" in body.replace("\\$", "")):
        return None  # anchors in the middle (e.g. in alternations) have no Lucene equivalent
    return f"{start}({body}){end}" if (start or end) else body


def regex_text(value: SigmaRegularExpression) -> str:
    """The regex as written in the rule (pySigma keeps it as an unescaped SigmaString)."""
    return str(value.regexp)


def regex_flags(value: SigmaRegularExpression) -> set[str]:
    names = {
        SigmaRegularExpressionFlag.IGNORECASE: "i",
        SigmaRegularExpressionFlag.MULTILINE: "m",
        SigmaRegularExpressionFlag.DOTALL: "s",
    }
    return {names[flag] for flag in value.flags}


def inline_flags(value: SigmaRegularExpression) -> str:
    """RE2/PCRE inline flag group such as `(?i)`, or ''."""
    flags = "".join(sorted(regex_flags(value)))
    return f"(?{flags})" if flags else ""


def has_letters(text: str) -> bool:
    return any(char.lower() != char.upper() for char in text)
