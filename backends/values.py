"""Value rendering that is specific to Lucene's regexp dialect (Elasticsearch query_string, EQL, ES|QL
RLIKE) and not in pySigma. Everything else goes through pySigma's SigmaString and regex handling."""

from __future__ import annotations

import re

from sigma.types import SigmaString

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
    """The wildcard value as a full-match Lucene regexp: text through lucene_regex_literal, wildcards
    as `.*` and `.` (pySigma's conversion, with the text already escaped)."""
    literal = value.map_str_parts(lambda text: lucene_regex_literal(text, case_insensitive))
    return literal.convert(escape_char=None, wildcard_multi=".*", wildcard_single=".")


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


def has_letters(text: str) -> bool:
    """Whether case folding changes the text (a value without letters needs no case-insensitive form)."""
    return any(char.lower() != char.upper() for char in text)
