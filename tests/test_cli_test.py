"""`snaptrail test`: the shipped fixtures pass on every target, a wrong declared outcome fails naming
rule, record and target, and a runtime that is not here is named once with its install command."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import stat
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from snaptrail.backends import TARGETS
from snaptrail.cli import main
from snaptrail.verify import kusto_checker

from expected_limits import expected_unsupported, not_executed
from fixture_cases import FIXTURES, REPO, RULES, fixtures

RULE = "ebs_snapshot_deleted"  # runs on DuckDB, Lucene, eql and duckdb-kql: every engine judges it
RULE_FILE = RULES / "ebs" / f"{RULE}.yml"
RULE_FIXTURES = FIXTURES / "rules" / "ebs" / RULE
FLIPPED = "delete_volume_cli.json"  # declared no_match; the copy below declares it a match
EXECUTING = ("duckdb", "elastic-lucene", "elastic-eql", "sentinel")


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["test", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str, Path]:
    """`snaptrail test` with every default, from the repository root, once for this module."""
    junit = tmp_path_factory.mktemp("junit") / "reports" / "test.xml"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        code, out, err = run(["--format", "json", "--junit", str(junit)])
    return code, json.loads(out), err, junit


def test_shipped_corpus_passes_on_every_target(shipped: tuple[int, dict[str, Any], str, Path]) -> None:
    code, report, err, _ = shipped
    assert code == 0, err
    assert report["ok"] and not report["fixture_problems"] and not report["missing_runtimes"], err
    cases = len(fixtures().records) + len(fixtures().chains)
    assert set(report["targets"]) == set(TARGETS)
    for target, summary in report["targets"].items():
        counted = sum(summary[k] for k in ("passed", "failed", "not_executed", "cannot_express"))
        assert counted == cases, f"{target}: {counted} of {cases} cases reported"
        assert summary["failed"] == 0, target
        assert summary.get("queries_rejected", 0) == 0, f"{target}: a real parser rejected a query"
        assert re.search(rf"^snaptrail test: {re.escape(target)}: +\d+ passed", err, re.M), err
    assert report["targets"]["duckdb"]["passed"] == cases
    for target in EXECUTING:
        assert report["targets"][target]["passed"] > 0, f"{target} executed nothing"
    # Nothing runs SPL or ES|QL outside Splunk and Elasticsearch: reported as not executed, never passed.
    assert report["targets"]["splunk"]["passed"] == 0
    assert report["targets"]["elastic-esql"]["passed"] == 0
    assert report["targets"]["elastic-esql"]["queries_accepted"] > 0


def test_limits_are_reported_as_the_pinned_ones(shipped: tuple[int, dict[str, Any], str, Path]) -> None:
    """What a target cannot express and what duckdb-kql cannot run are exactly the pinned sets."""
    outcomes = shipped[1]["outcomes"]
    for target in TARGETS:
        cannot = {o["rule"] for o in outcomes if o["target"] == target and o["status"] == "cannot express"}
        assert cannot == expected_unsupported(target) & {o["rule"] for o in outcomes}, target
    beyond = {
        o["rule"]
        for o in outcomes
        if o["target"] == "sentinel" and o["status"] == "not executed" and "duckdb-kql" in o["detail"]
    }
    assert beyond == not_executed("sentinel")


def test_junit_has_a_suite_per_target(shipped: tuple[int, dict[str, Any], str, Path]) -> None:
    _, report, _, junit = shipped
    root = ElementTree.parse(junit).getroot()
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == set(TARGETS)
    for target, suite in suites.items():
        summary = report["targets"][target]
        assert suite.get("failures") == "0"
        assert int(suite.get("skipped", "0")) == summary["not_executed"] + summary["cannot_express"]
        skipped = sum(1 for case in suite.iter("testcase") if case.find("skipped") is not None)
        assert skipped == int(suite.get("skipped", "0"))


def one_rule_repo(tmp_path: Path, flip: bool) -> tuple[Path, Path, Path]:
    """A content repository of one shipped rule and its fixtures; `flip` declares one look-alike a match."""
    rules, cases_dir = tmp_path / "rules", tmp_path / "fixtures" / RULE
    rules.mkdir()
    shutil.copy(RULE_FILE, rules)
    shutil.copytree(RULE_FIXTURES, cases_dir)
    cases = cases_dir / "cases.yml"
    if flip:
        text = cases.read_text(encoding="utf-8")
        flipped = re.sub(rf"(record: {re.escape(FLIPPED)}\n\s+expect:) no_match", r"\1 match", text)
        assert flipped != text
        cases.write_text(flipped, encoding="utf-8")
    return rules, tmp_path / "fixtures", cases


def test_wrong_expectation_fails_naming_rule_record_and_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, fixture_dir, cases = one_rule_repo(tmp_path, flip=True)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["--rules", str(rules), "--fixtures", str(fixture_dir)])
    assert code == 1, out + err
    failed = [line for line in out.splitlines() if line.startswith("FAILED: ")]
    assert len(failed) == len(EXECUTING), out
    for target, line in zip(sorted(EXECUTING), sorted(failed), strict=True):
        assert line.startswith(f"FAILED: {target}: rule {RULE} ("), line
        assert f"{cases.relative_to(tmp_path)}:" in line and f"{FLIPPED} (expect match)" in line, line
        assert "expected match" in line and "no match" in line, line
    for target in EXECUTING:
        assert re.search(rf"^snaptrail test: {re.escape(target)}: +\d+ passed, 1 failed", out, re.M), out


def test_json_names_the_failing_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules, fixture_dir, cases = one_rule_repo(tmp_path, flip=True)
    monkeypatch.chdir(tmp_path)
    argv = ["--rules", str(rules), "--fixtures", str(fixture_dir), "-t", "duckdb", "--format", "json"]
    code, out, _ = run(argv)
    assert code == 1
    report = json.loads(out)
    assert list(report["targets"]) == ["duckdb"]
    [failure] = [o for o in report["outcomes"] if o["status"] == "failed"]
    assert (failure["target"], failure["rule"], failure["record"], failure["expect"]) == (
        "duckdb", RULE, FLIPPED, "match"
    )  # fmt: skip
    assert failure["cases_file"] == str(cases.relative_to(tmp_path))


def test_unreadable_fixture_declaration_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules, fixture_dir, cases = one_rule_repo(tmp_path, flip=False)
    cases.write_text(cases.read_text(encoding="utf-8").replace("expect: no_match", "expect: maybe", 1))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["--rules", str(rules), "--fixtures", str(fixture_dir), "-t", "duckdb"])
    assert code == 1
    assert "fixture problem:" in out and "expect must be match or no_match" in out, out


def test_missing_runtimes_are_named_once_with_their_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, fixture_dir, _ = one_rule_repo(tmp_path, flip=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no java, javac, node
    monkeypatch.setitem(sys.modules, "eql", None)  # `import eql` raises ImportError
    monkeypatch.setitem(sys.modules, "esql", None)
    code, out, _ = run(["--rules", str(rules), "--fixtures", str(fixture_dir)])
    assert code == 0, out  # nothing disagreed; what did not run is reported, not failed
    missing = [line for line in out.splitlines() if "not available here:" in line]
    assert len(missing) == 4, out
    installs = [line.strip() for line in out.splitlines() if line.strip().startswith("install: ")]
    assert len(installs) == 4, out
    for name, install in (
        ("Apache Lucene", "install: apt-get install default-jdk-headless liblucene8-java"),
        ("Kusto.Language", "install: snaptrail test --install-checkers"),
        ("Elastic's eql", "install: pip install 'snaptrail[verify]'"),
        ("ES|QL analyzer", "install: pip install 'snaptrail[verify]'"),
    ):
        assert sum(name in line for line in missing) == 1, (name, out)
        assert sum(line.startswith(install) for line in installs) >= 1, (install, out)
    if sys.version_info < (3, 12):
        assert any("--ignore-requires-python detection-rules-esql-py" in line for line in installs), out
    cases = len([c for c in fixtures().records if c.rule_id == _rule_id()])
    lucene = rf"^snaptrail test: elastic-lucene: +0 passed, 0 failed, {cases} not executed, 0 cannot express"
    assert re.search(lucene, out, re.M), out
    assert re.search(rf"^snaptrail test: elastic-eql: +0 passed, 0 failed, {cases} not executed", out, re.M)
    # duckdb-kql (Python) still executes the KQL; only the Kusto binder is missing, and that is said.
    assert re.search(rf"^snaptrail test: sentinel: +{cases} passed.*queries not parsed", out, re.M), out
    assert run(["--rules", str(rules), "--fixtures", str(fixture_dir), "--strict"])[0] == 1


def _rule_id() -> str:
    text = RULE_FILE.read_text(encoding="utf-8")
    match = re.search(r"^id: (\S+)", text, re.M)
    assert match
    return match.group(1)


def test_kusto_package_is_installed_with_npm_ci_from_the_shipped_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`install` copies the manifests and runs `npm ci --prefix DIR` (a stand-in npm here: no network)."""
    bin_dir, target = tmp_path / "bin", tmp_path / "kusto"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    npm = bin_dir / "npm"
    version = kusto_checker.required_version()
    npm.write_text(  # PATH holds only this folder: the stand-in is Python, not shell commands
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(log)!r}).write_text(' '.join(sys.argv[1:]))\n"
        "pkg = pathlib.Path(sys.argv[3], 'node_modules', '@kusto', 'language-service-next')\n"
        "pkg.mkdir(parents=True)\n"
        "(pkg / 'Kusto.Language.Bridge.min.js').write_text('')\n"
        f"(pkg / 'package.json').write_text(json.dumps({{'version': {version!r}}}))\n"
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    node = shutil.which("node")
    assert node is not None
    (bin_dir / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert kusto_checker.install(target) == target
    assert log.read_text().split() == ["ci", "--prefix", str(target), "--no-audit", "--no-fund"]
    for name in kusto_checker.MANIFESTS:
        assert (target / name).read_bytes() == (kusto_checker.CHECKER_DIR / name).read_bytes()
    log.unlink()
    kusto_checker.install(target)  # the pinned version is there: npm is not run again
    assert not log.exists()


def test_install_checkers_with_everything_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["--install-checkers"])
    assert code == 0, err
    assert f"is installed in {kusto_checker.kusto_dir()}" in out
    assert "every checker runs here" in out
