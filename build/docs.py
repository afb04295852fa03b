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

    # A chain case expects "N alert(s)" (it fires) or "no alert" (a look-alike trail).
    @property
    def positives(self) -> int:
        return sum(1 for case in self.fixtures if case.expect == "match" or case.expect.endswith("alert(s)"))

    @property
    def negatives(self) -> int:
        return sum(1 for case in self.fixtures if case.expect in ("no_match", "no alert"))

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
# HTML (build/templates/docs/*.html, autoescaped)


def html_index(catalogue: Catalogue) -> str:
    return render(
        "docs/index.html",
        catalogue=catalogue,
        site_name=SITE_NAME,
        title=SITE_NAME,
        root="",
        pages=catalogue.pages,
        targets=list(TARGETS),
        levels=[(level, LEVEL_MEANING[level]) for level in reversed(LEVELS)],
        missing=not_expressible(catalogue.pages),
    )


def html_rule(
    catalogue: Catalogue, page: RulePage, previous: RulePage | None, following: RulePage | None
) -> str:
    return render(
        "docs/rule.html",
        catalogue=catalogue,
        site_name=SITE_NAME,
        title=f"{page.rule.title} · {SITE_NAME}",
        root="../",  # the page's path back to the site folder
        page=page,
        previous=previous,
        following=following,
    )


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
