"""sigma-cli itself, for every snaptrail target: `sigma convert -t snaptrail_<x>` writes the queries
`snaptrail build` compiles (shipped filters and allowlists included), `-O filters=false` leaves the
allowlists out, unknown options and broken placeholders fail in one line, and the formats that wrap
a query (Splunk savedsearches, Kibana rules and saved searches) wrap exactly that query.

One module fixture runs every case once. What a user sees of a whole process (plugin discovery, the
one error line) runs as a `sigma` process, the console script next to this interpreter; conversions
run sigma-cli's own `convert` command in this process with click's CliRunner, since a process spends
most of its time importing pySigma.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sigma.cli.convert import convert
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaConfigurationError
from sigma.plugins import InstalledSigmaPlugins
from sigma.processing.pipeline import ProcessingPipeline

from snaptrail.backends import TARGETS
from snaptrail.backends.elastic import DEFAULT_INDEX
from snaptrail.backends.plugin import OPTIONS
from snaptrail.config import Config, load_config
from snaptrail.content import shipped_filters
from snaptrail.corpus import Conversion, Corpus

from fixture_cases import REPO, RULES, rule_corpus

SIGMA = Path(sys.executable).with_name("sigma")
AS_PROCESS = {"list", "unknown-option", "unknown-placeholder"}
RULE = "ba28b7cf-06d4-4eff-b425-1e150b164153"  # ebs_snapshot_created: the AWS service role filter names it
RULES_DIR = "sigma/rules"  # relative to the repository, where every sigma process runs
RULE_FILE = f"{RULES_DIR}/ebs/ebs_snapshot_created.yml"
IDENTIFIERS = {target: spec.backend.identifier for target, spec in TARGETS.items()}  # type: ignore[attr-defined]
FORMATS = {
    "snaptrail_splunk": {"default", "savedsearches"},
    "snaptrail_elastic_lucene": {"default", "kibana_ndjson", "dsl_lucene", "siem_rule", "siem_rule_ndjson"},
    "snaptrail_elastic_eql": {"default", "eqlapi", "siem_rule", "siem_rule_ndjson"},
    "snaptrail_elastic_esql": {"default"},
    "snaptrail_sentinel": {"default"},
    "snaptrail_duckdb": {"default"},
}
ELASTIC_FORMATS = [
    (target, output) for target in ("elastic-lucene", "elastic-eql")
    for output in sorted(FORMATS[IDENTIFIERS[target]] - {"default"})
]  # fmt: skip
UNKNOWN_PLACEHOLDER_FILTER = f"""\
title: A filter naming no allowlist
id: 6f4f3c1e-2b7a-4c47-9a0e-1f2d3c4b5a69
logsource:
  product: aws
  service: cloudtrail
filter:
  rules:
    - {RULE}
  listed:
    userIdentity.arn|expand: '%no_such_allowlist%'
  condition: not listed
"""

CUSTOM_PATTERNS = ["logs-aws.cloudtrail-prod", "logs-aws.cloudtrail-dev"]
CUSTOM_CONFIG = f"""\
allowlists:
  trusted_principal_arns: ["arn:aws:iam::*:role/backup-automation"]
elastic:
  index: {json.dumps(CUSTOM_PATTERNS)}
"""


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def errors(self) -> list[str]:
        """sigma-cli's error lines (it prints progress labels to stderr too)."""
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


def _cases(scratch: Path) -> dict[str, list[str]]:
    bad_filter = scratch / "no_such_allowlist.yml"
    bad_filter.write_text(UNKNOWN_PLACEHOLDER_FILTER, encoding="utf-8")
    cases: dict[str, list[str]] = {"list": ["list", "targets"]}
    for target, identifier in IDENTIFIERS.items():
        cases[f"folder/{target}"] = ["convert", "-t", identifier, "-s", RULES_DIR]
        cases[f"off/{target}"] = ["convert", "-t", identifier, "-O", "filters=false", RULE_FILE]
    for target, output in ELASTIC_FORMATS:
        cases[f"{output}/{target}"] = ["convert", "-t", IDENTIFIERS[target], "-s", "-f", output, RULES_DIR]
    cases["savedsearches"] = ["convert", "-t", "snaptrail_splunk", "-s", "-f", "savedsearches", RULES_DIR]
    custom = scratch / "snaptrail.yml"
    custom.write_text(CUSTOM_CONFIG, encoding="utf-8")
    config = ["-O", f"config={custom}"]
    cases["config"] = ["convert", "-t", "snaptrail_elastic_eql", "-f", "siem_rule_ndjson", *config, RULE_FILE]
    cases["unknown-option"] = ["convert", "-t", "snaptrail_sentinel", "-O", "filter=false", RULE_FILE]
    placeholder = ["convert", "-t", "snaptrail_duckdb", "--filter", str(bad_filter), RULE_FILE]
    cases["unknown-placeholder"] = placeholder
    return cases


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    assert SIGMA.is_file(), f"sigma-cli is not installed next to {sys.executable}"
    cases = _cases(tmp_path_factory.mktemp("sigma_cli"))
    # The processes start first and run while the in-process conversions do.
    started = {
        name: subprocess.Popen(
            [str(SIGMA), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in cases.items()
        if name in AS_PROCESS
    }
    results = {}
    runner = CliRunner()
    with contextlib.chdir(REPO):
        for name, args in cases.items():
            if name not in AS_PROCESS:
                assert args[0] == "convert"
                result = runner.invoke(convert, args[1:])
                results[name] = Run(tuple(args), result.exit_code, result.stdout, result.stderr)
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = Run(tuple(cases[name]), process.returncode, stdout, stderr)
    return results


@pytest.fixture(scope="module")
def build_corpus() -> Corpus:
    """What `snaptrail build` compiles, with the filters and settings the backends apply by default."""
    # The backends' defaults are snaptrail's: the shipped filters with the default settings, which
    # are what the repository's snaptrail.yml holds too (checked below).
    assert load_config(REPO / "snaptrail.yml").placeholders() == Config().placeholders()
    return Corpus.load([RULES], [shipped_filters()], Config())


def _queries(stdout: str) -> list[str]:
    # sigma-cli joins a backend's queries with a blank line; no compiled query contains one.
    return [query for query in stdout.rstrip("\n").split("\n\n") if query]


def _ok(conversions: dict[str, Conversion]) -> dict[str, str]:
    return {rule_id: str(c.query) for rule_id, c in conversions.items() if c.ok}


def test_sigma_lists_all_six_targets(runs: dict[str, Run]) -> None:
    run = runs["list"]
    assert run.returncode == 0, run.stderr
    listed = set(re.findall(r"^\|\s*(snaptrail_\w+)\s*\|", run.stdout, re.MULTILINE))
    assert listed == set(IDENTIFIERS.values())


def test_plugins_declare_their_formats_and_need_no_pipeline() -> None:
    backends = InstalledSigmaPlugins.autodiscover().backends
    for identifier, formats in FORMATS.items():
        assert set(backends[identifier].formats) == formats, identifier
        assert not backends[identifier].requires_pipeline, identifier


@pytest.mark.parametrize("target", TARGETS)
def test_folder_converts_as_the_build_does(runs: dict[str, Run], build_corpus: Corpus, target: str) -> None:
    """Every query of the rule folder is the build's, the shipped filters' allowlists included; what
    the target cannot express is reported per rule (`-s`), not a failure of the folder."""
    run = runs[f"folder/{target}"]
    assert run.returncode == 0, run.stderr
    compiled = build_corpus.compiled(target)
    assert Counter(_queries(run.stdout)) == Counter(_ok(compiled).values())
    skipped = [c for c in compiled.values() if not c.ok]
    assert all(c.limitation for c in skipped), [c.error for c in skipped if not c.limitation]
    for conversion in skipped:
        assert conversion.rule_id in run.stderr, f"{conversion.title} is not reported as skipped"
    # The allowlists are in by default: the rule's query is not the one without the filters.
    assert compiled[RULE].query != rule_corpus().compiled(target)[RULE].query


@pytest.mark.parametrize("target", TARGETS)
def test_filters_false_leaves_the_allowlists_out(runs: dict[str, Run], target: str) -> None:
    run = runs[f"off/{target}"]
    assert run.returncode == 0, run.stderr
    assert _queries(run.stdout) == [rule_corpus().compiled(target)[RULE].query]


def test_unknown_option_is_one_line_naming_it_and_the_known_ones(runs: dict[str, Run]) -> None:
    run = runs["unknown-option"]
    assert run.returncode != 0 and not run.stdout
    assert "Traceback" not in run.stderr
    [line] = run.errors()
    assert "-O filter" in line and all(name in line for name in OPTIONS), line


@pytest.mark.parametrize("target", TARGETS)
def test_every_backend_rejects_unknown_options(target: str) -> None:
    backend = TARGETS[target].backend(ProcessingPipeline(), nosuch="1")
    known = r"unknown backend option -O nosuch \(known options: filters"
    with pytest.raises(SigmaConfigurationError, match=known):
        backend.convert(SigmaCollection([]))


def test_unknown_placeholder_is_one_line_naming_rule_and_placeholder(runs: dict[str, Run]) -> None:
    run = runs["unknown-placeholder"]
    assert run.returncode != 0 and "Traceback" not in run.stderr
    [line] = run.errors()
    assert RULE in line and "%no_such_allowlist%" in line, line


def test_savedsearches_put_the_macro_in_the_search(runs: dict[str, Run], build_corpus: Corpus) -> None:
    run = runs["savedsearches"]
    assert run.returncode == 0, run.stderr
    header, *stanzas = re.split(r"\n(?=\[)", run.stdout.strip("\n"))
    assert header.startswith("[default]") and "snaptrail_cloudtrail" not in header, header
    compiled = _ok(build_corpus.compiled("splunk"))
    searches = []
    for stanza in stanzas:
        search = stanza.split("\nsearch = ", 1)[1].rstrip("\n")
        searches.append(search.replace(" \\\n", "\n"))  # savedsearches.conf continues lines with `\`
    assert Counter(searches) == Counter(compiled.values())
    # A rule's search starts with the macro; a chain's steps do, inside its multisearch.
    assert all(search.startswith(("`snaptrail_cloudtrail` ", "| multisearch")) for search in searches)


@pytest.mark.parametrize(("target", "output"), ELASTIC_FORMATS)
def test_kibana_formats_wrap_the_query_on_the_cloudtrail_index(
    runs: dict[str, Run], build_corpus: Corpus, target: str, output: str
) -> None:
    run = runs[f"{output}/{target}"]
    assert run.returncode == 0, run.stderr
    documents = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    compiled = _ok(build_corpus.compiled(target))
    assert len(documents) == len(compiled)
    language = "eql" if target == "elastic-eql" else "lucene"
    queries = []
    for document in documents:
        if output == "kibana_ndjson":
            source = json.loads(document["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert source["index"] == DEFAULT_INDEX
            assert [ref["id"] for ref in document["references"]] == [DEFAULT_INDEX]
            queries.append(source["query"]["query_string"]["query"])
        elif output == "dsl_lucene":
            queries.append(document["query"]["bool"]["must"][0]["query_string"]["query"])
        elif output == "eqlapi":
            queries.append(document["query"])
        else:  # siem_rule (the create-rule API nests the rule in params) and siem_rule_ndjson
            rule = document.get("params", document)
            assert rule["index"] == [DEFAULT_INDEX] and rule["language"] == language, rule
            assert rule["type"] == ("eql" if language == "eql" else "query")
            queries.append(rule["query"])
    assert Counter(queries) == Counter(compiled.values())


def test_config_option_sets_allowlists_and_index(runs: dict[str, Run]) -> None:
    run = runs["config"]
    assert run.returncode == 0, run.stderr
    [document] = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert document["index"] == CUSTOM_PATTERNS
    path = Path(run.args[run.args.index("-O") + 1].removeprefix("config="))
    expected = Corpus.load([REPO / RULE_FILE], [shipped_filters()], load_config(path)).compiled("elastic-eql")
    assert document["query"] == expected[RULE].query
    assert "backup-automation" in document["query"]  # the allowlist of that file, not the defaults'
