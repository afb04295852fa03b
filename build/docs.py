"""dist/docs/: the rule catalogue, once as Markdown and once as a static offline HTML site.

    docs/index.md, docs/rules/<rule>.md              Markdown (renders on any Git host)
    docs/site/index.html, docs/site/rules/<rule>.html, docs/site/style.css
                                                     HTML: no JavaScript, no external assets,
                                                     relative links only (works from file://)

Both are rendered from one content model per rule (`RulePage`): metadata, the level and what it
means, ATT&CK techniques, triage, false positives, references, the compiled query for every target
or the reason the target cannot express the rule, and the fixtures the rule declares in
`cases.yml` files of the fixture folders the build is given (`snaptrail build --fixtures`). Every page carries
the snaptrail version and the provenance of the build.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from html import escape
from pathlib import Path

from snaptrail.backends import TARGETS
from snaptrail.build.context import LEVELS, BuildContext, RuleInfo
from snaptrail.build.render import render, static
from snaptrail.fixtures import ChainCase, RecordCase

# README, "Levels": what each level means (test_docs checks this against the README's table).
LEVEL_MEANING = {
    "critical": "public exposure, or confirmed use of a shared copy by an outside account",
    "high": "shared with, copied to or exported to a party that may be outside your control",
    "medium": "a guardrail weakened, or a strong staging signal on its own",
    "low": "a building block with some signal",
    "informational": "a plain building block, for the chains",
}

# How a fixture record's shape is known (cases.yml `shape`); other values are shown as written.
SHAPE_MEANING = {
    "recorded": "a record as CloudTrail wrote it",
    "doc": "shaped on a record in AWS documentation",
    "api": "shaped from the API reference (not recorded)",
}

SITE_NAME = "snaptrail rule catalogue"


# --------------------------------------------------------------------------------------------
# Content model (shared by Markdown and HTML)


@dataclass(frozen=True)
class Block:
    kind: str  # "p", "ol" or "ul"
    items: tuple[str, ...]  # one paragraph for "p"; list items otherwise


_ORDERED = re.compile(r"^(\d+)[.)]\s+")
_BULLET = re.compile(r"^[-*]\s+")


def text_blocks(text: str) -> list[Block]:
    """Rule prose (YAML block scalars, hard-wrapped) as paragraphs and lists.

    A line starting `1.` / `-` opens a list item; an indented line continues it; an unindented line
    after a list item starts a paragraph (the rules' "Contain: ..." after the numbered steps); a
    blank line ends a block. Wrapped lines are joined with one space."""
    blocks: list[Block] = []
    kind = ""
    items: list[list[str]] = []

    def close() -> None:
        nonlocal kind, items
        if items:
            blocks.append(Block(kind, tuple(" ".join(parts) for parts in items)))
        kind, items = "", []

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            close()
            continue
        ordered = _ORDERED.match(line)
        marker = ordered or _BULLET.match(line)
        if marker is not None:
            new_kind = "ol" if ordered else "ul"
            if kind != new_kind:
                close()
                kind = new_kind
            items.append([line[marker.end() :]])
        elif kind in ("ol", "ul") and raw[:1].isspace():
            items[-1].append(line)
        elif kind == "p":
            items[-1].append(line)
        else:
            close()
            kind, items = "p", [[line]]
    close()
    return blocks


@dataclass(frozen=True)
class TargetQuery:
    target: str
    language: str
    extension: str
    query: str | None
    reason: str | None  # why the target cannot express the rule (query is None)


@dataclass(frozen=True)
class FixtureCase:
    expect: str  # match / no_match
    record: str  # relative to the repository when possible
    declared: str  # relative to its cases.yml, as declared there
    event: str  # eventSource eventName [errorCode], read from the record
    shape: str
    note: str
    cases_file: str


@dataclass(frozen=True)
class RulePage:
    rule: RuleInfo
    queries: tuple[TargetQuery, ...]
    fixtures: tuple[FixtureCase, ...]
    fixtures_found: bool  # False when no fixtures folder exists next to the rules

    @property
    def positives(self) -> int:
        return sum(1 for case in self.fixtures if case.expect == "match")

    @property
    def negatives(self) -> int:
        return sum(1 for case in self.fixtures if case.expect == "no_match")

    @property
    def unsupported(self) -> list[str]:
        return [q.target for q in self.queries if q.query is None]

    @property
    def expressible(self) -> list[str]:
        return [q.target for q in self.queries if q.query is not None]

    @property
    def description(self) -> list[Block]:
        return text_blocks(self.rule.description)

    @property
    def triage(self) -> list[Block]:
        return text_blocks(self.rule.triage)

    @property
    def level_meaning(self) -> str:
        return LEVEL_MEANING.get(self.rule.level, "not a snaptrail level")

    @property
    def cases_files(self) -> list[str]:
        """The cases.yml files that declare this rule's fixtures."""
        return sorted({case.cases_file for case in self.fixtures})

    def shown_record(self, case: FixtureCase) -> str:
        """A record as its one cases.yml declares it, or from the repository when there are several."""
        return case.declared if len(self.cases_files) == 1 else case.record

    @property
    def shapes(self) -> list[tuple[str, str]]:
        """(shape, what it means) of the known shapes among the fixtures, for the legend."""
        return [
            (s, SHAPE_MEANING[s])
            for s in sorted({c.shape for c in self.fixtures if c.shape in SHAPE_MEANING})
        ]


def not_expressible(pages: list[RulePage]) -> list[tuple[RulePage, TargetQuery]]:
    """(rule, target) pairs without a query, by target (in TARGETS order) then rule."""
    order = list(TARGETS)
    missing = [(page, q) for page in pages for q in page.queries if q.query is None]
    return sorted(missing, key=lambda pair: order.index(pair[1].target))  # stable: rule order kept


def _reason(error: str | None, rule: RuleInfo) -> str:
    """The conversion error without its `file: rule 'title' (id): ` prefix."""
    text = (error or "no reason given").strip()
    marker = f"({rule.id}): "
    return text.split(marker, 1)[1] if marker in text else text


def target_queries(context: BuildContext, rule: RuleInfo) -> tuple[TargetQuery, ...]:
    queries = []
    for name, spec in TARGETS.items():
        conversion = context.conversions[name].get(rule.id)
        query = context.query(name, rule.id)
        if query is not None:
            reason = None
        elif conversion is None:
            reason = "no conversion was produced for this target"
        elif conversion.limitation:
            reason = _reason(conversion.error, rule)
        else:
            reason = "conversion failed: " + _reason(conversion.error, rule)
        queries.append(TargetQuery(name, spec.language, spec.extension, query, reason))
    return tuple(queries)


def _event_summary(case: RecordCase) -> str:
    try:
        record = case.record
    except (OSError, ValueError):
        return "(record missing or unreadable)"
    parts = [str(record.get("eventSource", "?")), str(record.get("eventName", "?"))]
    if record.get("errorCode"):
        parts.append(f"[{record['errorCode']}]")
    return " ".join(parts)


def _shown(path: Path, base: Path | None) -> str:
    if base is None:
        return path.as_posix()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _trail_summary(case: ChainCase) -> str:
    try:
        return f"trail of {len(case.records)} records"
    except (OSError, ValueError):
        return "(trail missing or unreadable)"


def declared_fixtures(context: BuildContext) -> tuple[bool, dict[str, list[FixtureCase]]]:
    """rule id -> its declared cases, in declaration order of sorted cases.yml files."""
    fixtures = context.fixtures
    # Paths read as tests/fixtures/...: relative to the folder two above the fixture root.
    base = fixtures.root.resolve().parent.parent if fixtures.root is not None else None
    by_rule: dict[str, list[FixtureCase]] = {}
    for case in sorted([*fixtures.records, *fixtures.chains], key=lambda c: str(c.cases_file)):
        cases_file = _shown(case.cases_file.resolve(), base)
        if isinstance(case, ChainCase):
            entry = FixtureCase(
                expect=f"{len(case.expect)} alert(s)" if case.expect else "no alert",
                record=_shown(case.path, base),
                declared=case.declared,
                event=_trail_summary(case),
                shape="",
                note=case.note,
                cases_file=cases_file,
            )
        else:
            declared = Path(os.path.relpath(case.record_path, case.cases_file.parent.resolve())).as_posix()
            entry = FixtureCase(
                expect=case.expect,
                record=_shown(case.record_path, base),
                declared=declared,
                event=_event_summary(case),
                shape=case.shape,
                note=case.note,
                cases_file=cases_file,
            )
        by_rule.setdefault(case.rule_id, []).append(entry)
    return fixtures.root is not None, by_rule


@dataclass
class Catalogue:
    context: BuildContext

    @cached_property
    def pages(self) -> list[RulePage]:
        found, by_rule = declared_fixtures(self.context)
        pages = [
            RulePage(rule, target_queries(self.context, rule), tuple(by_rule.get(rule.id, [])), found)
            for rule in self.context.rules
        ]
        names = [page.rule.name for page in pages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule file names must be unique for the docs: {', '.join(duplicates)}")
        return pages

    @property
    def version(self) -> str:
        return self.context.version

    @cached_property
    def provenance_json(self) -> str:
        return json.dumps(self.context.provenance(), indent=2, sort_keys=True)

    def level_counts(self) -> list[tuple[str, int]]:
        return [(level, sum(1 for p in self.pages if p.rule.level == level)) for level in LEVELS]


# --------------------------------------------------------------------------------------------
# Markdown (build/templates/docs/*.md)


def markdown_index(catalogue: Catalogue) -> str:
    return render(
        "docs/index.md",
        catalogue=catalogue,
        site_name=SITE_NAME,
        pages=catalogue.pages,
        targets=list(TARGETS),
        levels=[(level, LEVEL_MEANING[level]) for level in reversed(LEVELS)],
        missing=not_expressible(catalogue.pages),
    )


def markdown_rule(catalogue: Catalogue, page: RulePage) -> str:
    return render("docs/rule.md", catalogue=catalogue, page=page)


# --------------------------------------------------------------------------------------------
# HTML

_URL = re.compile(r"^https?://[^\s<>\"']+$")


def h(text: str) -> str:
    return escape(text, quote=True)


def html_link(url: str, text: str | None = None) -> str:
    label = h(text if text is not None else url)
    return f'<a href="{h(url)}">{label}</a>' if _URL.match(url) else label


def table_wrap(label: str) -> str:
    """A horizontally scrollable region for a wide table, reachable by keyboard."""
    return f'<div class="table-wrap" role="region" aria-label="{h(label)}" tabindex="0">'


def badge(level: str) -> str:
    return f'<span class="badge level-{h(level)}">{h(level)}</span>'


def html_blocks(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if block.kind == "p":
            parts.append(f"<p>{h(block.items[0])}</p>")
        else:
            items = "".join(f"<li>{h(item)}</li>" for item in block.items)
            parts.append(f"<{block.kind}>{items}</{block.kind}>")
    return "\n".join(parts)


def html_page(catalogue: Catalogue, title: str, body: str, root: str) -> str:
    """One page; `root` is the relative path from the page to the site folder ("" or "../")."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="snaptrail {h(catalogue.version)}">
<title>{h(title)}</title>
<link rel="stylesheet" href="{root}style.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<p class="brand"><a href="{root}index.html">{h(SITE_NAME)}</a>
<span class="version">snaptrail {h(catalogue.version)}</span></p>
</header>
<main id="main">
{body}
</main>
<footer class="site">
<p>Generated by snaptrail {h(catalogue.version)} from the Sigma rules and the configuration below.</p>
<details>
<summary>Provenance: the configuration that shaped this build</summary>
<pre><code>{h(catalogue.provenance_json)}</code></pre>
</details>
</footer>
</body>
</html>
"""


def html_targets_cell(page: RulePage) -> str:
    total = len(page.queries)
    if not page.unsupported:
        return f"all {total}"
    missing = ", ".join(f"<code>{h(t)}</code>" for t in page.unsupported)
    return f'{total - len(page.unsupported)} of {total}<br><span class="muted">not {missing}</span>'


def html_fixtures_cell(page: RulePage) -> str:
    if not page.fixtures_found:
        return '<span class="muted">n/a</span>'
    return f"{page.positives} match<br>{page.negatives} no_match"


def html_index(catalogue: Catalogue) -> str:
    pages = catalogue.pages
    rows = []
    for page in pages:
        rule = page.rule
        techniques = (
            "<br>".join(f'<a href="{h(t.url)}">{h(t.id)}</a> {h(t.name)}' for t in rule.techniques)
            or '<span class="muted">none</span>'
        )
        rows.append(
            "<tr>"
            f'<th scope="row"><a href="rules/{h(rule.name)}.html">{h(rule.title)}</a></th>'
            f"<td>{h(rule.family)}</td>"
            f'<td data-level="{h(rule.level)}">{badge(rule.level)}</td>'
            f"<td>{techniques}</td>"
            f'<td class="targets">{html_targets_cell(page)}</td>'
            f'<td class="fixtures">{html_fixtures_cell(page)}</td>'
            "</tr>"
        )
    counts = " ".join(
        f'<li>{badge(level)} <span class="count">{count}</span></li>'
        for level, count in catalogue.level_counts()
    )
    levels = "\n".join(
        f'<tr><th scope="row">{badge(level)}</th><td>{h(LEVEL_MEANING[level])}</td></tr>'
        for level in reversed(LEVELS)
    )
    missing = not_expressible(pages)
    missing_rows = "\n".join(
        f"<tr><td><code>{h(q.target)}</code></td>"
        f'<td><a href="rules/{h(p.rule.name)}.html#query-{h(q.target)}">{h(p.rule.title)}</a></td>'
        f"<td>{h(q.reason or '')}</td></tr>"
        for p, q in missing
    )
    missing_html = (
        f'{table_wrap("Rules a target cannot express")}<table class="unsupported-rules">'
        '<caption class="visually-hidden">Rules a target cannot express, by target</caption>'
        '<thead><tr><th scope="col">Target</th><th scope="col">Rule</th><th scope="col">Reason</th></tr>'
        f"</thead>\n<tbody>\n{missing_rows}\n</tbody></table></div>"
        if missing
        else "<p>None: every rule compiles for every target.</p>"
    )
    targets = ", ".join(f"<code>{h(name)}</code>" for name in TARGETS)
    body = f"""<h1>{h(SITE_NAME)}</h1>
<p class="lead">{len(pages)} Sigma rules for AWS CloudTrail snapshot abuse, each compiled for {targets}.
Every rule page has its description, triage guide, false positives, the query for every target
(or why the target cannot express the rule) and the fixtures that prove it.</p>
<ul class="level-counts" aria-label="Rules per level">{counts}</ul>
{table_wrap("All rules")}
<table class="rules" id="rules">
<caption>All {len(pages)} rules, by family then title</caption>
<thead><tr><th scope="col">Rule</th><th scope="col">Family</th><th scope="col">Level</th>
<th scope="col">ATT&amp;CK techniques</th><th scope="col">Targets</th>
<th scope="col">Fixtures</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</div>
<section aria-labelledby="levels">
<h2 id="levels">Levels</h2>
<table class="levels">
<caption class="visually-hidden">What each level means</caption>
<thead><tr><th scope="col">Level</th><th scope="col">Meaning</th></tr></thead>
<tbody>
{levels}
</tbody>
</table>
</section>
<section aria-labelledby="unsupported">
<h2 id="unsupported">Rules a target cannot express</h2>
<p>These are left out of that target's package, never emitted as an approximate query.</p>
{missing_html}
</section>"""
    return html_page(catalogue, SITE_NAME, body, "")


def html_fixtures(page: RulePage) -> str:
    if not page.fixtures_found:
        return "<p>No fixtures folder (<code>tests/fixtures</code>) next to the rules.</p>"
    if not page.fixtures:
        return "<p>No fixtures declared for this rule in <code>tests/fixtures/**/cases.yml</code>.</p>"
    files = sorted({c.cases_file for c in page.fixtures})
    rows = "\n".join(
        f'<tr class="expect-{h(c.expect)}"><td>{h(c.expect)}</td>'
        f"<td><code>{h(c.declared if len(files) == 1 else c.record)}</code></td>"
        f"<td>{h(c.event)}</td><td>{h(c.shape)}</td><td>{h(c.note)}</td></tr>"
        for c in page.fixtures
    )
    shapes = sorted({c.shape for c in page.fixtures if c.shape in SHAPE_MEANING})
    legend = (
        '<p class="muted">Shape: '
        + "; ".join(f"<strong>{h(s)}</strong>: {h(SHAPE_MEANING[s])}" for s in shapes)
        + ".</p>"
        if shapes
        else ""
    )
    return f"""<p>{page.positives} positive (<code>match</code>) and {page.negatives} negative look-alike
(<code>no_match</code>) records, declared in {", ".join(f"<code>{h(f)}</code>" for f in files)}
{"(record paths relative to it)" if len(files) == 1 else ""}.</p>
{table_wrap("Fixtures")}
<table class="fixtures">
<caption class="visually-hidden">Fixture records and their expected outcome</caption>
<thead><tr><th scope="col">Expect</th><th scope="col">Record</th><th scope="col">Event</th>
<th scope="col">Shape</th><th scope="col">Note</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</div>
{legend}"""


def html_rule(
    catalogue: Catalogue, page: RulePage, previous: RulePage | None, following: RulePage | None
) -> str:
    rule = page.rule
    attack = [
        f'<li>Technique <a href="{h(t.url)}">{h(t.id)} {h(t.name)}</a></li>' for t in rule.techniques
    ] + [f'<li>Tactic <a href="{h(t.url)}">{h(t.id)} {h(t.name)}</a></li>' for t in rule.tactics]
    attack_html = f"<ul>{''.join(attack)}</ul>" if attack else "<p>No ATT&amp;CK tags.</p>"
    fps = "".join(f"<li>{h(fp)}</li>" for fp in rule.falsepositives)
    refs = "".join(f"<li>{html_link(ref)}</li>" for ref in rule.references)
    toc = "".join(
        f'<li><a href="#query-{h(q.target)}">{h(q.target)}</a>'
        + ("" if q.query is not None else ' <span class="muted">(not expressible)</span>')
        + "</li>"
        for q in page.queries
    )
    queries = []
    for q in page.queries:
        heading = (
            f'<h3 id="query-{h(q.target)}">{h(q.target)} <span class="muted">({h(q.language)})</span></h3>'
        )
        if q.query is not None:
            code = f'<code class="language-{h(q.extension)}">{h(q.query)}</code>'
            queries.append(f'{heading}\n<pre class="query">{code}</pre>')
        else:
            queries.append(
                f'{heading}\n<p class="unsupported" role="note">'
                f"<strong>Not expressible on {h(q.target)}:</strong> {h(q.reason or '')}</p>"
            )
    meta = [
        ("id", f"<code>{h(rule.id)}</code>"),
        ("file", f"<code>{h(rule.path)}</code>"),
        ("family", h(rule.family)),
        ("status", h(rule.status)),
        ("author", h(rule.author)),
        ("date", h(rule.date)),
        ("tags", " ".join(f"<code>{h(tag)}</code>" for tag in rule.tags)),
    ]
    meta_html = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in meta)
    pager = []
    if previous is not None:
        pager.append(f'<a rel="prev" href="{h(previous.rule.name)}.html">&larr; {h(previous.rule.title)}</a>')
    if following is not None:
        pager.append(
            f'<a rel="next" href="{h(following.rule.name)}.html">{h(following.rule.title)} &rarr;</a>'
        )
    body = f"""<nav class="crumbs" aria-label="Breadcrumb"><a href="../index.html">All rules</a>
<span aria-hidden="true">&rsaquo;</span> {h(rule.family)}</nav>
<h1>{h(rule.title)} {badge(rule.level)}</h1>
<dl class="meta">{meta_html}</dl>
<section aria-labelledby="description"><h2 id="description">Description</h2>
{html_blocks(text_blocks(rule.description))}
</section>
<section aria-labelledby="level"><h2 id="level">Level</h2>
<p>{badge(rule.level)} {h(LEVEL_MEANING.get(rule.level, "not a snaptrail level"))}.</p>
</section>
<section aria-labelledby="attack"><h2 id="attack">ATT&amp;CK</h2>
{attack_html}
</section>
<section aria-labelledby="triage"><h2 id="triage">Triage</h2>
{html_blocks(text_blocks(rule.triage)) or "<p>No triage guide.</p>"}
</section>
<section aria-labelledby="falsepositives"><h2 id="falsepositives">False positives</h2>
{f"<ul>{fps}</ul>" if fps else "<p>None listed.</p>"}
</section>
<section aria-labelledby="references"><h2 id="references">References</h2>
{f"<ul>{refs}</ul>" if refs else "<p>None listed.</p>"}
</section>
<section aria-labelledby="queries"><h2 id="queries">Queries</h2>
<nav aria-label="Targets"><ul class="toc">{toc}</ul></nav>
{chr(10).join(queries)}
</section>
<section aria-labelledby="fixtures"><h2 id="fixtures">Fixtures</h2>
{html_fixtures(page)}
</section>
<nav class="pager" aria-label="Other rules">{" ".join(pager)}</nav>"""
    return html_page(catalogue, f"{rule.title} · {SITE_NAME}", body, "../")


def style() -> str:
    """The site's one stylesheet, a static file (build/templates/docs/style.css)."""
    return static("docs/style.css")


# --------------------------------------------------------------------------------------------


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    written.append(path)


def write_docs(context: BuildContext, out: Path) -> list[Path]:
    root = out / "docs"
    catalogue = Catalogue(context)
    pages = catalogue.pages
    written: list[Path] = []
    _write(root / "index.md", markdown_index(catalogue), written)
    for page in pages:
        _write(root / "rules" / f"{page.rule.name}.md", markdown_rule(catalogue, page), written)
    site = root / "site"
    _write(site / "style.css", style(), written)
    _write(site / "index.html", html_index(catalogue), written)
    for index, page in enumerate(pages):
        previous = pages[index - 1] if index > 0 else None
        following = pages[index + 1] if index + 1 < len(pages) else None
        _write(
            site / "rules" / f"{page.rule.name}.html",
            html_rule(catalogue, page, previous, following),
            written,
        )
    return written
