"""`snaptrail build`: complete, deterministic, and the README's coverage table is current."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

import snaptrail.build
from snaptrail.build import build_all
from snaptrail.build.attack import BEGIN, END, coverage_markdown
from snaptrail.build.context import BuildContext
from snaptrail.cli import main
from snaptrail.config import load_config

from fixture_cases import REPO, RULES


def _build(out: Path, config: Path = REPO / "snaptrail.yml") -> int:
    return main(["build", "--rules", str(RULES), "--filters", str(REPO / "sigma/filters"),
                 "--config", str(config), "--out", str(out)])  # fmt: skip


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


# --- a bad snaptrail.yml stops the build before anything is written -------------------------------------

SHIPPED = (REPO / "snaptrail.yml").read_text(encoding="utf-8")


def _bad_config(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED
    path = tmp_path / "bad.yml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'base_search: "sourcetype=aws:cloudtrail"',
            'base_search: "sourcetype=aws:cloudtrail"\n  cron_schedul: "*/5 * * * *"',
            "splunk.cron_schedul: unknown key; did you mean 'cron_schedule'?",
        ),
        (
            'index: ["logs-aws.cloudtrail-*"]',
            'index: ["logs-aws.cloudtrail-*"]\n  intervall: 10m',
            "elastic.intervall: unknown key; did you mean 'interval'?",
        ),
        (
            "sentinel: {}",
            "sentinel:\n  query_frequncy: PT15M",
            "sentinel.query_frequncy: unknown key; did you mean 'query_frequency'?",
        ),
        ("allowlists:", "allowlist:", "allowlist: unknown section; did you mean 'allowlists'?"),
        (
            "org_account_ids: []",
            "org_acount_ids: []",
            "allowlists.org_acount_ids: unknown key; did you mean 'org_account_ids'?",
        ),
        ("sentinel: {}", "sentinel:\n  enabled: 'yes'", "sentinel.enabled: must be true or false, not 'yes'"),
        (
            "org_account_ids: []",
            "org_account_ids: [011122223333]",
            "allowlists.org_account_ids[0]: account id 011122223333 is not quoted, so YAML reads it as the "
            'number 1229530843; write it as a string: "011122223333"',
        ),
        (
            "trusted_partner_account_ids: []",
            "trusted_partner_account_ids: [222233334444]",
            "allowlists.trusted_partner_account_ids[0]: account id 222233334444 is not quoted",
        ),
        (
            "org_account_ids: []",
            'org_account_ids: ["11112222333"]',
            "allowlists.org_account_ids[0]: '11112222333' is not an AWS account id",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_file_and_key_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    config = _bad_config(tmp_path, old, new)
    out = tmp_path / "dist"
    assert _build(out, config) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert error.startswith(f"snaptrail: {config}: {message}"), error
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yml"], "no staging folder may be left behind"


def test_the_command_line_reports_a_bad_config_with_a_non_zero_exit(tmp_path: Path) -> None:
    import subprocess
    import sys

    _bad_config(tmp_path, "sentinel: {}", "sentinel:\n  grouping_lookbak: PT1H")
    snaptrail = Path(sys.executable).with_name("snaptrail")
    completed = subprocess.run(
        [str(snaptrail), "build", "--rules", str(RULES), "--config", "bad.yml", "--out", "X"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert completed.stderr == (
        "snaptrail: bad.yml: sentinel.grouping_lookbak: unknown key; did you mean 'grouping_lookback'?\n"
    )
    assert "Traceback" not in completed.stderr and not (tmp_path / "X").exists()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_failed_build_leaves_the_previous_dist_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dist"
    assert _build(out) == 0
    (out / "kept-by-the-admin.txt").write_text("from the previous build\n", encoding="utf-8")
    before = _snapshot(out)

    def failing() -> list[tuple[str, snaptrail.build.Packager]]:
        real = [pair for pair in packagers()]

        def sentinel_fails(context: BuildContext, folder: Path) -> list[Path]:
            (folder / "sentinel").mkdir()
            (folder / "sentinel" / "half.json").write_text("{", encoding="utf-8")
            raise RuntimeError("a packager failed half way")

        return [(name, sentinel_fails if name == "sentinel" else write) for name, write in real]

    packagers = snaptrail.build.packagers
    monkeypatch.setattr(snaptrail.build, "packagers", failing)
    context = BuildContext([RULES], [REPO / "sigma/filters"], load_config(REPO / "snaptrail.yml"))
    with pytest.raises(RuntimeError, match="half way"):
        build_all(context, out)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"], "no staging folder may be left behind"


def test_a_config_error_leaves_the_previous_dist_untouched(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    assert _build(out) == 0
    before = _snapshot(out)
    assert _build(out, _bad_config(tmp_path, "sentinel: {}", "sentinel:\n  enable: true")) == 2
    assert _snapshot(out) == before


def test_a_rebuild_replaces_the_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    (out / "queries" / "splunk").mkdir(parents=True)
    (out / "queries" / "splunk" / "removed_rule.spl").write_text("stale\n", encoding="utf-8")
    assert _build(out) == 0
    assert not (out / "queries" / "splunk" / "removed_rule.spl").exists()
    assert (out / "queries" / "manifest.json").is_file()
