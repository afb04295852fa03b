"""The one Jinja2 environment the packagers render READMEs, Markdown and HTML with.

Templates live in build/templates/ (package data), one folder per package; a template is named after
what it renders (`README.md`, `rule.html`), so `.html` templates are autoescaped and Markdown is not.
Static files (the site's stylesheet) are read from the same folder unchanged.
"""

from __future__ import annotations

import json
import re
from html import escape
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from snaptrail.config import iso_duration


@pass_eval_context
def _finalize(context: EvalContext, value: Any) -> Any:
    """In autoescaped (HTML) templates, text is escaped as html.escape writes it (`&quot;`, `&#x27;`),
    the spelling the catalogue was first published with; markupsafe's own (`&#34;`, `&#39;`) is the
    same HTML in other bytes, and builds must stay byte-identical. Markup passes as it is."""
    if context.autoescape and not hasattr(value, "__html__"):
        return Markup(escape(str(value), quote=True))
    return value


# --- Markdown: what Jinja2 has no filter for ----------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_URL = re.compile(r"^https?://[^\s<>\"']+$")


def md(text: str) -> str:
    """Inline Markdown text: characters Markdown would read as markup are escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _fence(code: str, shortest: int) -> str:
    """A backtick fence longer than any run of backticks inside `code`."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(shortest, longest + 1)


def mdc(text: str) -> str:
    """An inline code span (no escapes inside code; `|` is escaped for GFM table cells)."""
    fence = _fence(text, 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def code_block(code: str, language: str = "") -> str:
    """A fenced Markdown code block."""
    fence = _fence(code, 3)
    return f"{fence}{language}\n{code}\n{fence}"


def is_url(text: str) -> bool:
    """A web address a page may link to (anything else is shown as text)."""
    return _URL.match(text) is not None


def _json(value: Any, indent: int | None = 2) -> str:
    """JSON as every artifact writes it: sorted keys, so provenance reads the same everywhere."""
    return json.dumps(value, indent=indent, sort_keys=True)


ENVIRONMENT = Environment(
    loader=PackageLoader("snaptrail.build", "templates"),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
    undefined=StrictUndefined,
    finalize=_finalize,
)
ENVIRONMENT.filters["json"] = _json
ENVIRONMENT.filters["iso"] = iso_duration  # a snaptrail.yml duration as the artifacts state it: PT10M
ENVIRONMENT.filters.update(md=md, mdc=mdc, code_block=code_block)
ENVIRONMENT.tests["url"] = is_url


def render(name: str, **values: Any) -> str:
    """build/templates/<name> rendered with `values` (an undefined name is an error, never blank)."""
    return ENVIRONMENT.get_template(name).render(**values)


def static(name: str) -> str:
    """A file of build/templates/ as it is."""
    return (resources.files("snaptrail.build") / "templates" / name).read_text(encoding="utf-8")
