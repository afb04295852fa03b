"""Every SIEM package carries the rule set the compiled table says it can: rule by rule, what the Splunk
app, the Kibana NDJSON and the Sentinel ARM templates and YAML contain is compared with the corpus's
compiled table. A rule a package's target(s) express must be in the package with its compiled query
unchanged; a rule they cannot express (a TargetLimitation) must be absent and named in that package's
README under "Rules left out". So a chain missing from one SIEM is a failing test."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_package_splunk import parse_conf

from snaptrail.build import build_all
from snaptrail.build.context import BuildContext, RuleInfo
from snaptrail.build.sentinel import COMBINED_TEMPLATE, rule_guid
from snaptrail.build.splunk_app import APP_ID
from snaptrail.config import Config, load_config

from fixture_cases import REPO, RULES

# Kibana rule language -> the snaptrail target whose query it carries (Kibana's `type`, `language`).
KIBANA = {
    "eql": ("elastic-eql", "eql", "eql"),
    "esql": ("elastic-esql", "esql", "esql"),
    "lucene": ("elastic-lucene", "query", "lucene"),
}
_SIGMA_ID = re.compile(r"; Sigma rule (\S+) \(")
# A value_count chain no Kibana language expresses is carried as a threshold rule over the Lucene query
# of its step rule (snaptrail.build.kibana.threshold_rule): an Entry of this pseudo target.
KIBANA_THRESHOLD = "elastic-threshold"


@dataclass(frozen=True)
class Entry:
    """One rule as a package holds it: its query, and the target that query was compiled for."""

    query: str
    target: str


def _left_out(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    assert "## Rules left out" in text, readme
    return text.split("## Rules left out", 1)[1].split("\n## ", 1)[0]


def splunk_contents(out: Path) -> dict[str, Entry]:
    """Sigma rule id -> search, from savedsearches.conf (each description names its Sigma rule id)."""
    conf = parse_conf(
        (out / "splunk" / APP_ID / "default" / "savedsearches.conf").read_text(encoding="utf-8")
    )
    found: dict[str, Entry] = {}
    for name, stanza in conf.items():
        ids = _SIGMA_ID.findall(stanza["description"])
        assert len(ids) == 1, f"[{name}] names {len(ids)} Sigma rule ids"
        assert ids[0] not in found, f"[{name}]: rule {ids[0]} twice"
        found[ids[0]] = Entry(stanza["search"], "splunk")
    return found


def kibana_contents(out: Path, config: Config) -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    lines = (out / "elastic" / "snaptrail-rules.ndjson").read_text(encoding="utf-8").splitlines()
    for line in lines:
        document = json.loads(line)
        rule_id = document["rule_id"]
        assert rule_id not in found, f"rule {rule_id} twice"
        target = document["meta"]["snaptrail"]["target"]
        if document["type"] == "threshold":
            assert (document["language"], target) == ("lucene", "elastic-lucene"), rule_id
            found[rule_id] = Entry(document["query"], KIBANA_THRESHOLD)
            continue
        [language] = [key for key, (t, _, _) in KIBANA.items() if t == target]
        assert language in config.elastic.languages, (rule_id, language)
        assert (document["type"], document["language"]) == KIBANA[language][1:], rule_id
        found[rule_id] = Entry(document["query"], target)
    return found


def sentinel_contents(out: Path, context: BuildContext) -> dict[str, Entry]:
    """From the combined ARM template; every per-rule template and YAML file must agree with it."""
    guids = {rule_guid(rule.id): rule for rule in context.rules}
    root = out / "sentinel"
    combined = json.loads((root / COMBINED_TEMPLATE).read_text(encoding="utf-8"))
    found: dict[str, Entry] = {}
    for resource in combined["resources"]:
        match = re.search(r",'([^']+)'\)\]$", resource["name"])
        assert match and match[1] in guids, resource["name"]
        rule = guids[match[1]]
        assert rule.id not in found, f"rule {rule.id} twice"
        found[rule.id] = Entry(resource["properties"]["query"], "sentinel")
    by_name = {rule.name: rule for rule in context.rules}
    for path in sorted((root / "arm").glob("*.json")):
        [resource] = json.loads(path.read_text(encoding="utf-8"))["resources"]
        rule = by_name[path.stem]
        assert found.get(rule.id) == Entry(resource["properties"]["query"], "sentinel"), path.name
    for path in sorted((root / "yaml").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule = guids[document["id"]]
        assert path.stem == rule.name and found.get(rule.id) == Entry(document["query"], "sentinel"), (
            path.name
        )
    arm = {path.stem for path in (root / "arm").glob("*.json")}
    yamls = {path.stem for path in (root / "yaml").glob("*.yaml")}
    assert arm == yamls == {by_id.name for by_id in context.rules if by_id.id in found}
    return found


def expected(context: BuildContext, targets: tuple[str, ...]) -> dict[str, str | None]:
    """rule id -> the first of `targets` the compiled table expresses it on (None: none of them)."""
    table = context.conversions
    choice: dict[str, str | None] = {}
    for rule in context.rules:
        choice[rule.id] = next((t for t in targets if table[t][rule.id].ok), None)
    return choice


def differences(
    context: BuildContext, package: str, contents: dict[str, Entry], targets: tuple[str, ...], readme: Path
) -> list[str]:
    """How a package differs from the compiled table, one line per rule (empty: it matches)."""
    table = context.conversions
    rules: dict[str, RuleInfo] = {rule.id: rule for rule in context.rules}
    left_out = _left_out(readme)
    problems = [
        f"{package}: rule {rule_id} is not in the corpus" for rule_id in sorted(set(contents) - set(rules))
    ]
    for rule_id, target in sorted(expected(context, targets).items()):
        rule = rules[rule_id]
        entry = contents.get(rule_id)
        if target is None and entry is not None and entry.target == KIBANA_THRESHOLD:
            parsed = context.corpus.by_id[rule_id]
            steps = [str(ref.rule.id) for ref in getattr(parsed, "rules", [])]
            if str(getattr(parsed, "type", "")) != "value_count" or "elastic-lucene" not in targets:
                problems.append(f"{package}: {rule.name}: a threshold rule, but not a value_count chain")
            elif [entry.query] != [table["elastic-lucene"][step].query for step in steps]:
                problems.append(f"{package}: {rule.name}: the threshold query is not its step's Lucene query")
            if f"`{rule.name}`" in left_out:
                problems.append(f"{package}: {rule.name}: in the package and listed as left out")
            continue
        if target is None:
            not_limited = [t for t in targets if not table[t][rule_id].limitation]
            if not_limited:
                problems.append(
                    f"{package}: {rule.name}: did not compile for {not_limited} (not a limitation)"
                )
            if entry is not None:
                problems.append(f"{package}: {rule.name}: in the package, but the table says unsupported")
            if f"`{rule.name}`" not in left_out:
                problems.append(f"{package}: {rule.name}: unsupported but not listed in the README")
            continue
        if entry is None:
            problems.append(f"{package}: {rule.name}: missing (the table has a {target} query)")
            continue
        if entry.target != target:
            problems.append(f"{package}: {rule.name}: carries the {entry.target} query, expected {target}")
        query = str(table[target][rule_id].query)
        if not (entry.query == query or (package == "splunk" and entry.query.startswith(query + " | `"))):
            problems.append(f"{package}: {rule.name}: the query is not the compiled {target} query")
        if f"`{rule.name}`" in left_out:
            problems.append(f"{package}: {rule.name}: in the package and listed as left out")
    return problems


def all_differences(context: BuildContext, out: Path) -> list[str]:
    config = context.config
    languages = tuple(KIBANA[language][0] for language in config.elastic.languages)
    return [
        *differences(
            context, "splunk", splunk_contents(out), ("splunk",), out / "splunk" / APP_ID / "README.md"
        ),
        *differences(
            context, "elastic", kibana_contents(out, config), languages, out / "elastic" / "README.md"
        ),
        *differences(
            context,
            "sentinel",
            sentinel_contents(out, context),
            ("sentinel",),
            out / "sentinel" / "README.md",
        ),
    ]


def _shipped_with_enterprise_security() -> Config:
    """The shipped snaptrail.yml with Splunk ES content on: the stanzas must not depend on it."""
    data = yaml.safe_load((REPO / "snaptrail.yml").read_text(encoding="utf-8"))
    data["splunk"] = {**data["splunk"], "enterprise_security": True}
    return Config.from_mapping(data, Path("snaptrail.yml"))


@pytest.fixture(scope="module", params=["shipped", "enterprise_security"])
def build(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BuildContext, Path]:
    """A whole `snaptrail build` of every shipped rule, chains included."""
    config = (
        load_config(REPO / "snaptrail.yml")
        if request.param == "shipped"
        else _shipped_with_enterprise_security()
    )
    context = BuildContext([RULES], [REPO / "sigma" / "filters"], config)
    out = tmp_path_factory.mktemp(f"dist-{request.param}") / "dist"
    build_all(context, out)
    return context, out


def test_every_package_carries_what_the_compiled_table_says(build: tuple[BuildContext, Path]) -> None:
    context, out = build
    assert all_differences(context, out) == []
    chains = {rule.id for rule in context.rules if rule.is_chain}
    assert len(chains) >= 10
    # Chains are in every package: Splunk and Sentinel express all, Elastic as EQL or threshold rules.
    assert chains <= set(splunk_contents(out)) and chains <= set(sentinel_contents(out, context))
    assert chains <= set(kibana_contents(out, context.config))


def test_a_rule_missing_from_a_package_is_a_difference(
    build: tuple[BuildContext, Path], tmp_path: Path
) -> None:
    """The comparison can fail: drop one chain from each package in a copy of the build."""
    context, out = build
    copy = tmp_path / "dist"
    shutil.copytree(out, copy)
    chain = next(rule for rule in context.rules if rule.is_chain and context.query("splunk", rule.id))
    conf = copy / "splunk" / APP_ID / "default" / "savedsearches.conf"
    stanzas = conf.read_text(encoding="utf-8").split("\n\n")
    kept = [s for s in stanzas if not s.startswith(f"[snaptrail - {chain.title}]")]
    assert len(kept) == len(stanzas) - 1
    conf.write_text("\n\n".join(kept), encoding="utf-8")
    combined = copy / "sentinel" / COMBINED_TEMPLATE
    template = json.loads(combined.read_text(encoding="utf-8"))
    template["resources"] = [r for r in template["resources"] if rule_guid(chain.id) not in r["name"]]
    combined.write_text(json.dumps(template), encoding="utf-8")
    (copy / "sentinel" / "arm" / f"{chain.name}.json").unlink()
    (copy / "sentinel" / "yaml" / f"{chain.name}.yaml").unlink()
    ndjson = copy / "elastic" / "snaptrail-rules.ndjson"
    lines = ndjson.read_text(encoding="utf-8").splitlines()
    elastic_rule = json.loads(lines[0])["rule_id"]
    ndjson.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    found = all_differences(context, copy)
    name = {rule.id: rule.name for rule in context.rules}[elastic_rule]
    assert f"splunk: {chain.name}: missing (the table has a splunk query)" in found
    assert f"sentinel: {chain.name}: missing (the table has a sentinel query)" in found
    assert any(line.startswith(f"elastic: {name}: missing") for line in found), found
    assert len(found) == 3, found


# A chain no target implements (only `gte`/`gt` count conditions are: backends/chains.py), over a
# shipped building block: every package must leave it out and name it in its README.
_UNSUPPORTED_CHAIN = """\
title: Few EBS Snapshots By One Principal
id: 0d7c2a4e-5b1f-4c3e-9a8d-6f2e1b0c9d7a
name: test_chain_fewer_than_two_snapshots
status: experimental
description: A count condition below a threshold, which no target implements.
author: snaptrail tests
date: 2026-12-07
correlation:
  type: event_count
  rules:
    - ba28b7cf-06d4-4eff-b425-1e150b164153  # ebs_snapshot_created
  group-by:
    - userIdentity.arn
  timespan: 10m
  condition:
    lt: 2
  generate: true  # the building block stays a detection of its own
level: low
"""


@pytest.fixture(scope="module")
def build_with_unsupported(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildContext, Path, RuleInfo]:
    root = tmp_path_factory.mktemp("unsupported")
    rules = root / "rules"
    shutil.copytree(RULES, rules)
    (rules / "chains" / "test_chain_fewer_than_two_snapshots.yml").write_text(_UNSUPPORTED_CHAIN, "utf-8")
    context = BuildContext([rules], [REPO / "sigma" / "filters"], load_config(REPO / "snaptrail.yml"))
    out = root / "dist"
    build_all(context, out)
    rule = next(rule for rule in context.rules if rule.name == "test_chain_fewer_than_two_snapshots")
    return context, out, rule


def test_a_rule_no_target_expresses_is_left_out_of_every_package(
    build_with_unsupported: tuple[BuildContext, Path, RuleInfo],
) -> None:
    context, out, rule = build_with_unsupported
    assert all_differences(context, out) == []
    for readme in (out / "splunk" / APP_ID / "README.md", out / "elastic" / "README.md",
                   out / "sentinel" / "README.md"):  # fmt: skip
        assert f"`{rule.name}`" in _left_out(readme), readme


@pytest.mark.parametrize("package", ["splunk", "elastic", "sentinel"])
def test_an_unsupported_rule_must_be_listed_in_the_readme(
    build_with_unsupported: tuple[BuildContext, Path, RuleInfo], package: str, tmp_path: Path
) -> None:
    context, out, rule = build_with_unsupported
    readme = out / "splunk" / APP_ID / "README.md" if package == "splunk" else out / package / "README.md"
    copy = tmp_path / "README.md"
    text = readme.read_text(encoding="utf-8")
    copy.write_text(
        "\n".join(line for line in text.split("\n") if f"`{rule.name}`" not in line), encoding="utf-8"
    )
    contents, targets = {
        "splunk": (lambda: splunk_contents(out), ("splunk",)),
        "elastic": (
            lambda: kibana_contents(out, context.config),
            tuple(KIBANA[language][0] for language in context.config.elastic.languages),
        ),
        "sentinel": (lambda: sentinel_contents(out, context), ("sentinel",)),
    }[package]
    assert differences(context, package, contents(), targets, copy) == [
        f"{package}: {rule.name}: unsupported but not listed in the README"
    ]


def test_a_step_of_a_chain_with_generate_false_is_no_detection_of_its_own(tmp_path: Path) -> None:
    """Sigma's default `generate: false` hides the chain's steps: the build leaves the step out of
    every package (it was a KeyError traceback) and the packages still agree with the table."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    hidden = _UNSUPPORTED_CHAIN.replace(
        "  generate: true  # the building block stays a detection of its own\n", ""
    )
    assert hidden != _UNSUPPORTED_CHAIN
    (rules / "chains" / "test_chain_fewer_than_two_snapshots.yml").write_text(hidden, "utf-8")
    context = BuildContext([rules], [REPO / "sigma" / "filters"], load_config(REPO / "snaptrail.yml"))
    out = tmp_path / "dist"
    build_all(context, out)
    assert "ba28b7cf-06d4-4eff-b425-1e150b164153" not in {rule.id for rule in context.rules}
    assert all_differences(context, out) == []
