"""The rule catalogue (dist/docs/): a Markdown page and an HTML page per rule, every target's query or the
reason it is missing, the declared fixtures, working relative links, byte-identical rebuilds, and the
site as headless Chromium renders it from a file:// URL."""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import tempfile
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from snaptrail.backends import TARGETS
from snaptrail.build.context import BuildContext
from snaptrail.build.docs import LEVEL_MEANING, Block, text_blocks, write_docs
from snaptrail.build.render import md
from snaptrail.config import load_config

from fixture_cases import FIXTURES, REPO, RULES, cases_for

# Families that are settled; rules still being written elsewhere cannot break these tests.
FAMILIES = tuple(sorted(p.name for p in RULES.iterdir() if p.is_dir()))  # every family, chains included
CHROMIUM = "/usr/bin/chromium"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture(scope="module")
def context() -> BuildContext:
    return BuildContext(
        [RULES / family for family in FAMILIES],
        [REPO / "sigma/filters"],
        load_config(REPO / "snaptrail.yml"),
        [FIXTURES],  # the docs summarise the fixture folders they are given
    )


@pytest.fixture(scope="module")
def docs(context: BuildContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    write_docs(context, out)
    return out / "docs"


# --------------------------------------------------------------------------------------------
# Helpers: an HTML reader and the link checker


class Page(HTMLParser):
    """Links, ids, tag balance and the rows of the rules table of one HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.rules_rows = 0
        self._in_rules = 0  # depth of <table id="rules">, 0 outside
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append((tag, values))
        if "id" in values:
            if values["id"] in self.ids:
                self.problems.append(f"duplicate id {values['id']}")
            self.ids.add(values["id"])
        for name in ("href", "src"):
            if name in values:
                self.links.append(values[name])
        if tag == "table" and values.get("id") == "rules":
            self._in_rules = 1
        elif tag == "table" and self._in_rules:
            self._in_rules += 1
        if tag == "tr" and self._in_rules == 1 and "tbody" in self.stack:
            self.rules_rows += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "table" and self._in_rules:
            self._in_rules -= 1


def broken_links(site: Path) -> list[str]:
    """Every relative href/src of every page must name an existing file under the site folder, and
    a #fragment an id on that page. External links may only be plain https links (<a href>)."""
    problems: list[str] = []
    pages = {path: Page(path.read_text(encoding="utf-8")) for path in sorted(site.rglob("*.html"))}
    root = site.resolve()
    for path, page in pages.items():
        for tag, attrs in page.tags:
            if tag in ("script", "img", "iframe", "object", "embed") or "style" in attrs:
                problems.append(f"{path.name}: <{tag}> (no scripts, images, inline styles)")
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme:
                if parts.scheme != "https":
                    problems.append(f"{path.name}: non-https link {link}")
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path.resolve()
            if not target.is_relative_to(root):
                problems.append(f"{path.name}: {link} leaves the site")
            elif not target.is_file():
                problems.append(f"{path.name}: {link} -> missing {target}")
            elif parts.fragment and parts.fragment not in pages[target].ids:
                problems.append(f"{path.name}: {link} -> no id {parts.fragment!r}")
        for tag, attrs in page.tags:
            if tag == "link" and urlsplit(attrs.get("href", "")).scheme:
                problems.append(f"{path.name}: external stylesheet {attrs['href']}")
    return problems


MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def broken_markdown_links(docs: Path) -> list[str]:
    problems = []
    for path in sorted(docs.rglob("*.md")):
        for link in MD_LINK.findall(path.read_text(encoding="utf-8")):
            if urlsplit(link).scheme:
                continue
            if not (path.parent / urlsplit(link).path).is_file():
                problems.append(f"{path.relative_to(docs)}: {link}")
    return problems


# --------------------------------------------------------------------------------------------


def test_every_rule_has_a_markdown_and_an_html_page(context: BuildContext, docs: Path) -> None:
    names = {rule.name for rule in context.rules}
    assert len(names) == len(context.rules) == sum(len(list((RULES / f).glob("*.yml"))) for f in FAMILIES)
    assert {p.stem for p in (docs / "rules").glob("*.md")} == names
    assert {p.stem for p in (docs / "site" / "rules").glob("*.html")} == names
    assert (docs / "index.md").is_file() and (docs / "site" / "index.html").is_file()
    assert [p.name for p in (docs / "site").rglob("*.css")] == ["style.css"]
    index_md = (docs / "index.md").read_text(encoding="utf-8")
    index_html = (docs / "site" / "index.html").read_text(encoding="utf-8")
    for rule in context.rules:
        assert f"](rules/{rule.name}.md)" in index_md
        assert f'href="rules/{rule.name}.html"' in index_html
        assert escape(rule.title) in index_html
        for technique in rule.techniques:
            assert technique.id in index_md and technique.url in index_html


def test_every_internal_link_resolves(docs: Path) -> None:
    assert broken_links(docs / "site") == []
    assert broken_markdown_links(docs) == []


def test_the_link_checker_rejects_a_broken_site(docs: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(docs / "site", site)
    page = next((site / "rules").glob("*.html"))
    text = page.read_text(encoding="utf-8")
    page.write_text(
        text.replace('href="../index.html"', 'href="../missing.html"', 1)
        .replace("#query-splunk", "#query-nowhere", 1)
        .replace("</main>", '<script src="https://cdn.example/x.js"></script></main>', 1),
        encoding="utf-8",
    )
    problems = broken_links(site)
    assert any("missing.html" in p for p in problems), problems
    assert any("query-nowhere" in p for p in problems), problems
    assert any("<script>" in p for p in problems), problems
    (tmp_path / "md").mkdir()
    (tmp_path / "md" / "index.md").write_text("[x](rules/nothing.md)\n", encoding="utf-8")
    assert broken_markdown_links(tmp_path / "md") == ["index.md: rules/nothing.md"]


def test_pages_carry_each_targets_query_or_the_reason(context: BuildContext, docs: Path) -> None:
    reasons = 0
    for rule in context.rules:
        markdown = (docs / "rules" / f"{rule.name}.md").read_text(encoding="utf-8")
        html = (docs / "site" / "rules" / f"{rule.name}.html").read_text(encoding="utf-8")
        for target in TARGETS:
            query = context.query(target, rule.id)
            assert f'id="query-{target}"' in html
            if query is not None:
                assert query in markdown, (rule.name, target)
                assert escape(query) in html, (rule.name, target)
            else:
                reasons += 1
                error = str(context.conversions[target][rule.id].error)
                reason = error.split(f"({rule.id}): ", 1)[1]
                assert f"Not expressible on {target}: {md(reason)}" in markdown, (rule.name, target)
                assert escape(reason) in html, (rule.name, target)
    assert reasons > 0, "no rule without a query: the reason branch was not exercised"


def test_rule_page_content(context: BuildContext, docs: Path) -> None:
    rule = next(r for r in context.rules if r.name == "ebs_snapshot_made_public")
    html = (docs / "site" / "rules" / f"{rule.name}.html").read_text(encoding="utf-8")
    markdown = (docs / "rules" / f"{rule.name}.md").read_text(encoding="utf-8")
    assert '<span class="badge level-critical">critical</span>' in html
    assert escape(LEVEL_MEANING["critical"]) in html and md(LEVEL_MEANING["critical"]) in markdown
    assert 'href="https://attack.mitre.org/techniques/T1537/"' in html
    assert "(https://attack.mitre.org/techniques/T1537/)" in markdown
    for reference in rule.references:
        assert f'href="{escape(reference)}"' in html and f"<{reference}>" in markdown
    for fp in rule.falsepositives:
        assert escape(fp) in html
    # the numbered triage steps become an ordered list; "Contain:" stays a paragraph of its own
    assert "<ol><li>Treat as exposure now" in html
    assert "<p>Contain: remove group" in html
    assert "\n4. Check whether block public access" in markdown


def test_fixture_summary_matches_the_declared_cases(context: BuildContext, docs: Path) -> None:
    for rule in context.rules:
        if rule.is_chain:
            _check_chain_cases(rule.name, docs)
            continue
        cases = cases_for(rule.id)
        html = (docs / "site" / "rules" / f"{rule.name}.html").read_text(encoding="utf-8")
        markdown = (docs / "rules" / f"{rule.name}.md").read_text(encoding="utf-8")
        positives = sum(1 for case in cases if case.expect_match)
        negatives = len(cases) - positives
        assert positives and negatives, f"{rule.name}: no fixtures declared"
        summary = f"{positives} positive (<code>match</code>) and {negatives} negative look-alike"
        assert summary in html, rule.name
        assert f"{positives} positive (`match`) and {negatives} negative" in markdown, rule.name
        for case in cases:
            assert escape(" ".join(case.note.split())) in html, (rule.name, case.label)
            assert case.record_path.name in markdown, (rule.name, case.label)
        assert html.count('<tr class="expect-match">') == positives
        assert html.count('<tr class="expect-no_match">') == negatives


def _check_chain_cases(name: str, docs: Path) -> None:
    declared = yaml.safe_load((REPO / "tests" / "fixtures" / "chains" / name / "cases.yml").read_text())[
        "cases"
    ]
    html = (docs / "site" / "rules" / f"{name}.html").read_text(encoding="utf-8")
    markdown = (docs / "rules" / f"{name}.md").read_text(encoding="utf-8")
    assert declared, f"{name}: no chain cases"
    for case in declared:
        assert escape(" ".join(str(case["note"]).split())) in html, (name, case["records"])
        assert case["records"] in markdown, (name, case["records"])
        expected = f"{len(case['expect'])} alert(s)" if case["expect"] else "no alert"
        assert expected in markdown, (name, case["records"])


def test_without_a_fixtures_folder_the_pages_say_so(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES / "ebs" / "ebs_snapshot_made_public.yml", rules)
    out = tmp_path / "out"
    write_docs(BuildContext([rules], [], load_config(REPO / "snaptrail.yml")), out)
    html = (out / "docs" / "site" / "rules" / "ebs_snapshot_made_public.html").read_text(encoding="utf-8")
    assert "No fixtures folder" in html
    assert "No fixtures folder" in (out / "docs" / "rules" / "ebs_snapshot_made_public.md").read_text()


def test_every_page_carries_version_and_provenance(context: BuildContext, docs: Path) -> None:
    pages = [*docs.rglob("*.md"), *docs.rglob("*.html")]
    assert len(pages) == 2 * (len(context.rules) + 1)
    for path in pages:
        text = path.read_text(encoding="utf-8")
        assert f"snaptrail {context.version}" in text, path
        assert '"snaptrail_version": "' in text.replace("&quot;", '"'), path
        assert '"allowlists": {' in text.replace("&quot;", '"'), path


def test_html_is_well_formed_and_accessible(docs: Path) -> None:
    for path in sorted((docs / "site").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        page = Page(text)
        assert page.problems == [], (path.name, page.problems)
        assert text.startswith('<!DOCTYPE html>\n<html lang="en">'), path.name
        assert sum(1 for tag, _ in page.tags if tag == "h1") == 1, path.name
        assert any(tag == "title" for tag, _ in page.tags), path.name
        assert any(tag == "main" and attrs.get("id") == "main" for tag, attrs in page.tags), path.name
        headers = [attrs for tag, attrs in page.tags if tag == "th"]
        assert all(attrs.get("scope") in ("col", "row") for attrs in headers), path.name
        for tag, attrs in page.tags:
            if tag == "div" and "table-wrap" in attrs.get("class", ""):
                assert attrs.get("tabindex") == "0" and attrs.get("aria-label"), path.name
    css = (docs / "site" / "style.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css


def test_two_writes_are_byte_identical(context: BuildContext, docs: Path, tmp_path: Path) -> None:
    written = write_docs(context, tmp_path)
    assert len(set(written)) == len(written) and all(p.is_file() for p in written)
    files = sorted(str(p.relative_to(tmp_path / "docs")) for p in written)
    assert files == sorted(str(p.relative_to(docs)) for p in docs.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "docs", docs, files, shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_level_meanings_are_the_readmes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Levels", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (informational|low|medium|high|critical) \| ([^|]+) \|", section, re.M)
    assert dict((level, meaning.strip()) for level, meaning in rows) == LEVEL_MEANING


def test_prose_blocks() -> None:
    text = "1. First step\n   continued here.\n2. Second.\nContain: stop it\nnow.\n\n- a\n- b"
    assert text_blocks(text) == [
        Block("ol", ("First step continued here.", "Second.")),
        Block("p", ("Contain: stop it now.",)),
        Block("ul", ("a", "b")),
    ]
    assert text_blocks("One paragraph\nwrapped.") == [Block("p", ("One paragraph wrapped.",))]
    assert md("kms:ReEncrypt* <account> a|b") == r"kms:ReEncrypt\* \<account\> a\|b"


# --------------------------------------------------------------------------------------------
# Headless Chromium: the site as a browser builds its DOM from file:// URLs


def _chromium_dom(urls: list[str]) -> list[str]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make test-deps` (installs Debian's chromium)")
    processes = []
    profiles = []
    for url in urls:
        profile = tempfile.mkdtemp(prefix="snaptrail-chromium-")
        profiles.append(profile)
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1280,1600", "--dump-dom", url,
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        )
    try:
        doms = [process.communicate(timeout=60)[0] for process in processes]
        for url, process, dom in zip(urls, processes, doms, strict=True):
            assert process.returncode == 0 and "<html" in dom, f"chromium could not render {url}"
        return doms
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


def test_chromium_renders_the_index_and_a_rule_page(context: BuildContext, docs: Path) -> None:
    rule = next(r for r in context.rules if r.name == "ebs_snapshot_made_public")
    index_url = (docs / "site" / "index.html").resolve().as_uri()
    rule_url = (docs / "site" / "rules" / f"{rule.name}.html").resolve().as_uri()
    index_dom, rule_dom = _chromium_dom([index_url, rule_url])
    index = Page(index_dom)
    assert index.rules_rows == len(context.rules), "rules table rows in Chromium's DOM"
    assert 'href="style.css"' in index_dom and "<script" not in index_dom
    page = Page(rule_dom)
    assert {f"query-{target}" for target in TARGETS} <= page.ids
    assert {
        "description",
        "level",
        "attack",
        "triage",
        "falsepositives",
        "references",
        "fixtures",
    } <= page.ids
    assert escape(rule.title) in rule_dom and "badge level-critical" in rule_dom
