"""The one Jinja2 environment the packagers render READMEs, Markdown and HTML with.

Templates live in build/templates/ (package data), one folder per package; a template is named after
what it renders (`README.md`, `rule.html`), so `.html` templates are autoescaped and Markdown is not.
Static files (the site's stylesheet) are read from the same folder unchanged.
"""

from __future__ import annotations

import json
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


def render(name: str, **values: Any) -> str:
    """build/templates/<name> rendered with `values` (an undefined name is an error, never blank)."""
    return ENVIRONMENT.get_template(name).render(**values)


def static(name: str) -> str:
    """A file of build/templates/ as it is."""
    return (resources.files("snaptrail.build") / "templates" / name).read_text(encoding="utf-8")
