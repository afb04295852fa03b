"""`snaptrail build`: complete, deterministic, and the README's coverage table is current."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

from snaptrail.build.attack import BEGIN, END, coverage_markdown
from snaptrail.build.context import BuildContext
from snaptrail.cli import main
from snaptrail.config import load_config

from fixture_cases import REPO, RULES


def _build(out: Path) -> int:
    return main(["build", "--rules", str(RULES), "--filters", str(REPO / "sigma/filters"),
                 "--config", str(REPO / "snaptrail.yml"), "--out", str(out)])  # fmt: skip


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    assert _build(tmp_path / "a") == 0
    assert _build(tmp_path / "b") == 0
    files = _tree(tmp_path / "a")
    assert files == _tree(tmp_path / "b")
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_one_query_per_rule_per_target_or_a_stated_reason(tmp_path: Path) -> None:
    assert _build(tmp_path) == 0
    manifest = json.loads((tmp_path / "queries" / "manifest.json").read_text())
    context = BuildContext([RULES], [], load_config(REPO / "snaptrail.yml"))
    assert set(manifest["rules"]) == {rule.id for rule in context.rules}
    for rule_id, entry in manifest["rules"].items():
        for target in ("splunk", "elastic-lucene", "elastic-eql", "elastic-esql", "sentinel", "duckdb"):
            assert target in entry, f"{rule_id}: nothing for {target}"
            if "file" in entry[target]:
                assert (tmp_path / entry[target]["file"]).read_text().strip()
            else:
                assert "is not supported on target" in entry[target]["unsupported"]
    assert manifest["provenance"]["snaptrail_version"]
    assert "allowlists" in manifest["provenance"]


def test_navigator_layer_covers_the_core_techniques(tmp_path: Path) -> None:
    assert _build(tmp_path) == 0
    layer = json.loads((tmp_path / "attack" / "navigator_layer.json").read_text())
    covered = {(t["techniqueID"], t["tactic"]) for t in layer["techniques"]}
    assert ("T1537", "exfiltration") in covered
    assert ("T1578.001", "defense-evasion") in covered
    assert layer["domain"] == "enterprise-attack"


def test_readme_coverage_table_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    expected = coverage_markdown(BuildContext([RULES], [], load_config(REPO / "snaptrail.yml")))
    assert section == expected.strip(), "run: snaptrail build --update-readme README.md"
