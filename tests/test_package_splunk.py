"""dist/splunk/: the Splunk app builds, has one saved search and one tuning macro per rule the splunk
target expresses (the compiled query unchanged), is byte-identical across builds (the .tgz included),
and passes Splunk AppInspect (precert) -- which is shown to fail on a deliberately broken app."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import tarfile
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from snaptrail.build.context import BuildContext
from snaptrail.build.splunk_app import (
    APP_ID,
    BASE_MACRO,
    RISK_SCORE,
    SEVERITY,
    chain_key_fields,
    conf_value,
    filter_macro,
    schedule,
    search_name,
    splunk_version,
    write_splunk,
    write_tgz,
)
from snaptrail.config import Config, ConfigError, load_config

from checkers.spl_structure import known_splunk_fields
from fixture_cases import REPO, RULES

# Families that are complete; the rest of the tree is still being written by others.
FAMILIES = ("ebs", "ebs_direct", "rds", "redshift")
APPINSPECT = REPO / ".venv-appinspect" / "bin" / "splunk-appinspect"
CLEAN, FAILURES, WARNINGS, FUTURE_FAILURES = 0, 101, 103, 104

# The packaging toolkit's app.manifest, schema version 2.0.0, as Splunk documents it
# (dev.splunk.com, "App manifest" of the Packaging Toolkit): written here, not copied.
NULLABLE_STRING = {"type": ["string", "null"]}
NAME_TEXT_URI = {
    "type": "object",
    "required": ["name", "text", "uri"],
    "properties": {"name": NULLABLE_STRING, "text": NULLABLE_STRING, "uri": NULLABLE_STRING},
    "additionalProperties": False,
}
APP_MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schemaVersion", "info", "supportedDeployments", "targetWorkloads"],
    "additionalProperties": False,
    "properties": {
        "schemaVersion": {"const": "2.0.0"},
        "info": {
            "type": "object",
            "required": ["title", "id", "author", "description", "classification", "license"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1},
                "id": {
                    "type": "object",
                    "required": ["group", "name", "version"],
                    "additionalProperties": False,
                    "properties": {
                        "group": NULLABLE_STRING,
                        "name": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9_-]$"},
                        "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+([-+].+)?$"},
                    },
                },
                "author": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "email", "company"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "email": NULLABLE_STRING,
                            "company": NULLABLE_STRING,
                        },
                    },
                },
                "releaseDate": NULLABLE_STRING,
                "description": {"type": "string", "minLength": 1},
                "classification": {
                    "type": "object",
                    "required": ["intendedAudience", "categories", "developmentStatus"],
                    "additionalProperties": False,
                    "properties": {
                        "intendedAudience": NULLABLE_STRING,
                        "categories": {"type": "array", "items": {"type": "string"}},
                        "developmentStatus": NULLABLE_STRING,
                    },
                },
                "commonInformationModels": {"type": ["object", "null"]},
                "license": NAME_TEXT_URI,
                "privacyPolicy": NAME_TEXT_URI,
                "releaseNotes": NAME_TEXT_URI,
            },
        },
        "dependencies": {"type": ["object", "null"]},
        "tasks": {"type": ["array", "null"], "items": {"type": "string"}},
        "inputGroups": {"type": ["object", "null"]},
        "incompatibleApps": {"type": ["object", "null"]},
        "platformRequirements": {"type": ["object", "null"]},
        "supportedDeployments": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["*", "_standalone", "_distributed", "_search_head_clustering"]},
        },
        "targetWorkloads": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["*", "_search_heads", "_indexers", "_forwarders"]},
        },
    },
}


def _config(splunk: dict[str, Any] | None = None) -> Config:
    """The shipped snaptrail.yml, its `splunk:` section replaced (validated as load_config does)."""
    path = REPO / "snaptrail.yml"
    if splunk is None:
        return load_config(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Config.from_mapping({**data, "splunk": splunk}, Path("snaptrail.yml"))


def _context(config: Config | None = None, rule_paths: list[Path] | None = None) -> BuildContext:
    return BuildContext(
        rule_paths or [RULES / family for family in FAMILIES],
        [REPO / "sigma" / "filters"],
        config or _config(),
    )


@cache
def _default_context() -> BuildContext:
    return _context()


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    """A .conf file as Splunk reads it: `# ` comments, `[stanza]`, `key = value`, and a trailing
    backslash continuing a value on the next line (kept as a line break). Anything else, a repeated
    stanza or a repeated key is an error here."""
    stanzas: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    logical: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if line.endswith("\\"):
            pending += line[:-1] + "\n"
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the file ends inside a continued value"
    for line in logical:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"malformed stanza line: {line!r}"
            name = line[1:-1]
            assert name not in stanzas, f"stanza [{name}] twice"
            current = stanzas[name] = {}
            continue
        assert current is not None and " = " in line, f"not a setting inside a stanza: {line!r}"
        key, value = line.split(" = ", 1)
        assert key not in current, f"{key} twice"
        current[key] = value
    return stanzas


def _app(out: Path) -> Path:
    return out / "splunk" / APP_ID


def _tgz(out: Path, context: BuildContext) -> Path:
    return out / "splunk" / f"{APP_ID}-{splunk_version(context.version)}.tgz"


def _conf(out: Path, name: str) -> dict[str, dict[str, str]]:
    return parse_conf((_app(out) / "default" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("splunk")
    write_splunk(_default_context(), out)
    return out


def test_the_app_builds_with_its_identity(built: Path) -> None:
    context = _default_context()
    app = _app(built)
    for relative in ("default/app.conf", "default/macros.conf", "default/savedsearches.conf",
                     "metadata/default.meta", "app.manifest", "README.md"):  # fmt: skip
        assert (app / relative).is_file(), relative
    assert _tgz(built, context).is_file()
    conf = _conf(built, "app.conf")
    version = splunk_version(context.version)
    assert conf["id"] == {"name": APP_ID, "version": version}
    assert conf["package"]["id"] == APP_ID
    assert conf["install"]["is_configured"] == "false"
    assert conf["launcher"]["version"] == version
    assert context.version in conf["launcher"]["description"]
    assert 5 <= len(conf["ui"]["label"]) <= 80
    manifest = json.loads((app / "app.manifest").read_text(encoding="utf-8"))
    assert manifest["info"]["id"]["name"] == APP_ID
    assert manifest["info"]["id"]["version"] == version
    meta = parse_conf((app / "metadata" / "default.meta").read_text(encoding="utf-8"))
    assert meta[""]["access"] == "read : [ * ], write : [ admin, sc_admin ]"
    assert meta[""]["export"] == "none" and meta["macros"]["export"] == "system"


def test_the_app_version_is_semantic_versioning() -> None:
    assert splunk_version("0.1.0") == "0.1.0"
    assert splunk_version("0.0.0+source") == "0.0.0+source"
    assert splunk_version("0.2.0.dev3+g1a2b.d2026") == "0.2.0-dev3+g1a2b.d2026"
    assert splunk_version("1.2rc1") == "1.2.0-rc1"
    with pytest.raises(ValueError):
        splunk_version("snapshot")


def test_every_rule_with_spl_has_a_saved_search_and_a_filter_macro(built: Path) -> None:
    context = _default_context()
    config = context.config.splunk
    searches = _conf(built, "savedsearches.conf")
    macros = _conf(built, "macros.conf")
    assert macros[BASE_MACRO]["definition"] == "sourcetype=aws:cloudtrail"
    expressible = [rule for rule in context.rules if context.query("splunk", rule.id) is not None]
    assert len(expressible) >= 15
    assert set(searches) == {search_name(rule) for rule in expressible}
    assert set(macros) == {BASE_MACRO} | {filter_macro(rule) for rule in expressible}
    for rule in expressible:
        stanza = searches[f"snaptrail - {rule.title}"]
        query = context.query("splunk", rule.id)
        assert query is not None and query.startswith(f"`{BASE_MACRO}` ")
        assert stanza["search"] == f"{query} | `{rule.name}_filter`", rule.name
        assert macros[f"{rule.name}_filter"]["definition"] == "search *"
        assert rule.id in stanza["description"] and context.version in stanza["description"]
        when = schedule(rule, config)
        assert stanza["cron_schedule"] == when.cron_schedule == "*/10 * * * *"
        assert stanza["dispatch.earliest_time"] == "-20m@m"
        assert stanza["dispatch.latest_time"] == "-5m@m"
        assert stanza["disabled"] == "1" and stanza["enableSched"] == "1"
        assert stanza["alert.severity"] == str(SEVERITY[rule.level])
        assert (stanza["counttype"], stanza["relation"], stanza["quantity"]) == (
            "number of events",
            "greater than",
            "0",
        )
        assert stanza["alert.track"] == "1" and stanza["alert.suppress"] == "1"
        assert stanza["alert.suppress.fields"] == "eventID" and stanza["alert.suppress.period"] == "21m"
        assert not [key for key in stanza if key.startswith("action.")], "no action needing external config"


def test_a_multiline_query_is_written_with_continuations(built: Path) -> None:
    text = (_app(built) / "default" / "savedsearches.conf").read_text(encoding="utf-8")
    searches = parse_conf(text)
    multiline = [name for name, stanza in searches.items() if "\n" in stanza["search"]]
    assert multiline, "expected a rule whose SPL has a second line (| where)"
    for line in text.split("\n"):
        assert not line.endswith((" ", "\t")), f"trailing whitespace: {line!r}"
        if not line.startswith(("search = ", "#", "[")) and line:
            assert " = " in line or line.startswith("|"), f"stray line: {line!r}"


def test_conf_values_that_would_break_the_file_are_refused() -> None:
    assert conf_value("a\nb", "x") == "a\\\nb"
    assert parse_conf("[s]\nsearch = " + conf_value("a\r\n| where b", "x") + "\nnext = 1\n") == {
        "s": {"search": "a\n| where b", "next": "1"}
    }
    with pytest.raises(ValueError, match="backslash"):
        conf_value('x="C:\\\\" \\\n| y', "search")
    with pytest.raises(ValueError, match="backslash"):
        conf_value("ends with \\", "search")
    with pytest.raises(ValueError, match="empty"):
        conf_value(" \n ", "search")


def test_the_readme_says_how_to_use_the_app_and_where_it_came_from(built: Path) -> None:
    context = _default_context()
    text = (_app(built) / "README.md").read_text(encoding="utf-8")
    assert f"`` `{BASE_MACRO}` ``" in text and "Search macros" in text
    assert "installed **disabled**" in text
    assert "## Rules left out" in text
    provenance = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert provenance == json.loads(json.dumps(context.provenance()))


def test_settings_come_from_snaptrail_yml() -> None:
    context = _context(_config({"base_search": "index=aws sourcetype=aws:cloudtrail", "enabled": True,
                                "cron_schedule": "*/15 * * * *", "earliest_time": "-1h@m",
                                "latest_time": "now"}))  # fmt: skip
    config = context.config.splunk
    assert config.base_search == "index=aws sourcetype=aws:cloudtrail" and config.enabled
    when = schedule(context.rules[0], config)
    assert (when.cron_schedule, when.earliest_time, when.latest_time) == ("*/15 * * * *", "-1h@m", "now")
    assert when.suppress_period == "61m"
    for bad, key in (
        ({"enabled": "yes"}, "enabled"),
        ({"base_search": ""}, "base_search"),
        ({"base_search": None}, "base_search"),
        ({"cron_schedule": "* * * * *"}, "cron_schedule"),
        ({"cron_schedule": "every 10 minutes"}, "cron_schedule"),
        ({"earliest_time": "yesterday"}, "earliest_time"),
        ({"earliest_time": "-5m@m", "latest_time": "-10m@m"}, "latest_time"),
        ({"earliest_time": "-1m@m"}, "latest_time"),  # against the default latest_time
        ({"cron_schedul": "*/5 * * * *"}, "cron_schedul: unknown key; did you mean 'cron_schedule'?"),
    ):
        with pytest.raises(ConfigError) as error:
            _config(bad)
        assert str(error.value).startswith(f"snaptrail.yml: splunk.{key}"), error.value


def test_enabled_and_base_search_reach_the_app(tmp_path: Path) -> None:
    context = _context(_config({"base_search": "index=aws sourcetype=aws:cloudtrail", "enabled": True}))
    write_splunk(context, tmp_path)
    searches = _conf(tmp_path, "savedsearches.conf")
    assert searches and all(stanza["disabled"] == "0" for stanza in searches.values())
    assert _conf(tmp_path, "macros.conf")[BASE_MACRO]["definition"] == "index=aws sourcetype=aws:cloudtrail"


def test_a_rule_splunk_cannot_express_is_left_out_and_listed(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "test"
    rules.mkdir(parents=True)
    (rules / "single_char_wildcard.yml").write_text(
        "title: Snapshot Created With A Single-Character Wildcard\n"
        "id: 0f0e8a53-4a0c-4f43-9d3c-0b7f3b1e5f11\nstatus: test\nlevel: low\n"
        "description: SPL has no single-character wildcard.\nauthor: test\ndate: 2026-11-24\n"
        "tags: [attack.defense-evasion, attack.t1578.001]\n"
        "logsource: {product: aws, service: cloudtrail}\n"
        "detection:\n  selection:\n    eventSource: ec2.amazonaws.com\n    eventName: CreateSnapsho?\n"
        "  condition: selection\n",
        encoding="utf-8",
    )
    shutil.copy(RULES / "redshift" / "redshift_snapshot_shared_with_account.yml", rules)
    context = BuildContext([tmp_path / "rules"], [], _config())
    write_splunk(context, tmp_path / "out")
    assert set(_conf(tmp_path / "out", "savedsearches.conf")) == {
        "snaptrail - Redshift Snapshot Shared With Another AWS Account"
    }
    readme = (_app(tmp_path / "out") / "README.md").read_text(encoding="utf-8")
    left_out = readme.split("## Rules left out", 1)[1].split("##", 1)[0]
    assert "`single_char_wildcard` (0f0e8a53-4a0c-4f43-9d3c-0b7f3b1e5f11)" in left_out
    assert "single-character wildcard" in left_out
    assert str(tmp_path) not in left_out


def test_two_builds_are_byte_identical_including_the_archive(tmp_path: Path) -> None:
    context = _default_context()
    write_splunk(context, tmp_path / "a")
    write_splunk(_context(), tmp_path / "b")  # a fresh context: nothing cached is shared
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative


def test_the_archive_is_the_app_folder_with_fixed_metadata(built: Path) -> None:
    archive = _tgz(built, _default_context())
    raw = archive.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[0] == APP_ID and all(n == APP_ID or n.startswith(f"{APP_ID}/") for n in names)
        assert names == [APP_ID, *sorted(names[1:])]
        for member in members:
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
            assert member.mtime == members[0].mtime
            assert member.mode == (0o755 if member.isdir() else 0o644)
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                assert extracted.read() == (built / "splunk" / member.name).read_bytes(), member.name
        on_disk = {f"{APP_ID}/{p.relative_to(_app(built)).as_posix()}" for p in _app(built).rglob("*")}
        assert set(names[1:]) == on_disk


def test_app_manifest_matches_the_documented_schema(built: Path) -> None:
    manifest = json.loads((_app(built) / "app.manifest").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(APP_MANIFEST_SCHEMA)
    assert not list(validator.iter_errors(manifest))
    broken: list[dict[str, Any]] = [
        {**manifest, "schemaVersion": "1.0.0"},
        {**manifest, "targetWorkloads": ["_everywhere"]},
        {**manifest, "info": {**manifest["info"], "id": {"group": None, "version": "1.0.0"}}},
        {key: value for key, value in manifest.items() if key != "supportedDeployments"},
    ]
    for document in broken:
        assert list(validator.iter_errors(document)), document


# --- Splunk AppInspect -------------------------------------------------------------------------


def _appinspect() -> Path:
    """The project's AppInspect (`make test-deps` installs it); SPLUNK_APPINSPECT may name another
    installation of the same tool. Missing is a failure, never a skip."""
    path = Path(os.environ.get("SPLUNK_APPINSPECT", APPINSPECT))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"Splunk AppInspect not found at {path}: run `make test-deps` (it creates .venv-appinspect "
            "from tests/checkers/appinspect-requirements.txt)",
            pytrace=False,
        )
    return path


def _inspect(package: Path, workdir: Path) -> tuple[int, dict[str, Any], list[tuple[str, str, str]]]:
    """Run AppInspect precert offline; (exit code, summary, [(result, check, message)] not passing)."""
    report = workdir / "report.json"
    command = [str(_appinspect()), "inspect", str(package), "--mode", "precert",
               "--skip-trusted-libraries-update", "--data-format", "json", "--output-file", str(report),
               "--ci"]  # fmt: skip
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
        check=False,
    )
    assert report.is_file(), (
        f"AppInspect wrote no report (exit {completed.returncode}): {completed.stderr[-2000:]}"
    )
    data = json.loads(report.read_text(encoding="utf-8"))
    findings = [
        (check["result"], check["name"], " | ".join(m.get("message", "") for m in check.get("messages", [])))
        for result in data["reports"]
        for group in result["groups"]
        for check in group["checks"]
        if check["result"] not in ("success", "not_applicable")
    ]
    return completed.returncode, data["summary"], findings


def test_appinspect_precert_passes(built: Path, tmp_path: Path) -> None:
    code, summary, findings = _inspect(_tgz(built, _default_context()), tmp_path)
    failed = [f for f in findings if f[0] in ("failure", "error")]
    assert code != FAILURES and not failed and summary["failure"] == 0 and summary["error"] == 0, failed
    assert code in (CLEAN, WARNINGS, FUTURE_FAILURES), (code, summary)
    for result, name, message in findings:
        warnings.warn(f"AppInspect {result}: {name}: {message}", stacklevel=1)


def _broken_copy(built: Path, tmp_path: Path, edit: str) -> Path:
    app = tmp_path / APP_ID
    shutil.copytree(_app(built), app)
    conf = app / "default" / "savedsearches.conf"
    text = conf.read_text(encoding="utf-8")
    if edit == "missing_earliest_time":
        # AppInspect also accepts `earliest` inside the search as a lower bound
        assert not [name for name, stanza in parse_conf(text).items() if "earliest" in stanza["search"]]
        text = "\n".join(line for line in text.split("\n") if not line.startswith("dispatch.earliest_time"))
    else:  # a stanza header without its closing bracket
        text = text.replace("[snaptrail - ", "[snaptrail - unterminated stanza\n[snaptrail - ", 1)
    conf.write_text(text, encoding="utf-8")
    archive = tmp_path / f"{APP_ID}-broken.tgz"
    write_tgz(app, archive)
    return archive


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        ("missing_earliest_time", "check_for_sched_saved_searches_earliest_time"),
        ("malformed_stanza", "check_config_file_parsing"),
    ],
)
def test_appinspect_fails_a_broken_app(built: Path, tmp_path: Path, edit: str, check: str) -> None:
    code, summary, findings = _inspect(_broken_copy(built, tmp_path, edit), tmp_path)
    assert code == FAILURES and summary["failure"] >= 1, (code, summary)
    assert ("failure", check) in {(result, name) for result, name, _ in findings}, findings


def test_the_archive_is_gzip_of_a_tar(built: Path) -> None:
    with gzip.open(_tgz(built, _default_context())) as stream:
        assert stream.read(512)[257:262] == b"ustar"


# --- Splunk Enterprise Security content (splunk.enterprise_security) ------------------------------

TOKEN = re.compile(r"\$([^$\s]+)\$")
# Tokens ES fills in from the search's run rather than from a result field.
RUN_TOKENS = {"info_min_time", "info_max_time"}


@cache
def _es_context() -> BuildContext:
    """Every rule, chains included, with ES content on."""
    data = yaml.safe_load((REPO / "snaptrail.yml").read_text(encoding="utf-8"))
    config = Config.from_mapping(
        {**data, "splunk": {**data["splunk"], "enterprise_security": True}}, Path("snaptrail.yml")
    )
    return _context(config, [RULES])


@pytest.fixture(scope="module")
def es_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("splunk-es")
    write_splunk(_es_context(), out)
    return out


def _returned_fields(search: str) -> set[str]:
    """The fields a chain search returns: those of its final `| table` command."""
    last = search.split("\n")[-1]
    match = re.match(r"^\| table ([\w. ]+) \| `\w+`$", last)
    assert match, f"a chain search ends with its table and the tuning macro: {last!r}"
    return set(match[1].split())


def test_enterprise_security_is_off_by_default_and_typed() -> None:
    assert _config().splunk.enterprise_security is False
    assert _config({"enterprise_security": True}).splunk.enterprise_security is True
    for bad, message in (
        ({"enterprise_security": "yes"}, "enterprise_security: must be true or false, not 'yes'"),
        (
            {"enterprise_secuirty": True},
            "enterprise_secuirty: unknown key; did you mean 'enterprise_security'?",
        ),
    ):
        with pytest.raises(ConfigError) as error:
            _config(bad)
        assert str(error.value).startswith(f"snaptrail.yml: splunk.{message}"), error.value


def test_with_enterprise_security_every_search_is_a_correlation_search_with_risk(es_built: Path) -> None:
    context = _es_context()
    searches = _conf(es_built, "savedsearches.conf")
    rules = {search_name(rule): rule for rule in context.rules if context.query("splunk", rule.id)}
    assert set(searches) == set(rules)
    chains = [name for name, rule in rules.items() if rule.is_chain]
    assert len(chains) >= 10 and len(rules) - len(chains) >= 15
    known = known_splunk_fields(set())  # the CloudTrail envelope, which every event has
    for name, stanza in searches.items():
        rule = rules[name]
        assert stanza["action.correlationsearch.enabled"] == "1"
        assert stanza["action.correlationsearch.label"] == name
        annotations = json.loads(stanza["action.correlationsearch.annotations"])
        assert annotations == {"mitre_attack": sorted({t.id for t in rule.techniques})}, name
        assert stanza["action.risk"] == "1"
        risk = json.loads(stanza["action.risk.param._risk"])
        scored = [entry for entry in risk if "risk_object_field" in entry]
        assert scored and all(entry["risk_score"] == RISK_SCORE[rule.level] for entry in scored), name
        named = {e.get("risk_object_field") or e["threat_object_field"] for e in risk}
        tokens = set(TOKEN.findall(stanza["action.risk.param._risk_message"]))
        if rule.is_chain:
            returned = _returned_fields(stanza["search"])
            assert named | tokens <= returned, (name, (named | tokens) - returned)
            assert stanza["action.notable"] == "1"
            assert stanza["action.notable.param.severity"] == rule.level
            assert stanza["action.notable.param.security_domain"] == "threat"
            assert stanza["action.notable.param.rule_title"].startswith(rule.title)
            keys = ("rule_title", "drilldown_name", "drilldown_search", "drilldown_earliest_offset",
                    "drilldown_latest_offset")  # fmt: skip
            notable_tokens = {t for key in keys for t in TOKEN.findall(stanza[f"action.notable.param.{key}"])}
            assert notable_tokens - RUN_TOKENS and notable_tokens - RUN_TOKENS <= returned, name
            assert stanza["action.notable.param.drilldown_search"].startswith(f"`{BASE_MACRO}` ")
            steps = json.loads(stanza["action.notable.param.next_steps"])
            assert steps["version"] == 1 and rule.triage.splitlines()[0] in steps["data"]
        else:
            # Building blocks add risk to the caller and raise no notable.
            assert not [key for key in stanza if key.startswith("action.notable")], name
            assert named | tokens <= known, (name, (named | tokens) - known)
            assert {(e["risk_object_field"], e["risk_object_type"]) for e in scored} == {
                ("userIdentity.arn", "user"), ("recipientAccountId", "other")}  # fmt: skip
            assert {(e["threat_object_field"], e["threat_object_type"]) for e in risk
                    if "threat_object_field" in e} == {("sourceIPAddress", "ip_address")}  # fmt: skip


def test_a_chain_keyed_on_the_caller_scores_the_same_risk_object_as_its_steps(es_built: Path) -> None:
    searches = _conf(es_built, "savedsearches.conf")
    by_title = {rule.title: rule for rule in _es_context().rules}

    def scored(title: str) -> list[tuple[str, str]]:
        risk = json.loads(searches[f"snaptrail - {title}"]["action.risk.param._risk"])
        return [(e["risk_object_field"], e["risk_object_type"]) for e in risk if "risk_object_field" in e]

    burst = by_title["Burst Of EBS Snapshots By One Principal"]  # group-by userIdentity.arn
    shared = by_title["EBS Snapshot Created Then Shared With Another Account"]  # keyed on the snapshot
    assert chain_key_fields(_es_context(), burst) == {"userIdentity.arn"}
    assert chain_key_fields(_es_context(), shared) == {"responseElements.snapshotId",
                                                       "requestParameters.snapshotId"}  # fmt: skip
    assert scored(burst.title) == [("snaptrail_key", "user")]
    assert scored(shared.title) == [("snaptrail_key", "other")]
    assert scored("EBS Snapshot Created By A Principal That Is Not An AWS Service") == [
        ("userIdentity.arn", "user"), ("recipientAccountId", "other")
    ]  # fmt: skip


def test_the_readme_shows_the_enterprise_security_content(built: Path, es_built: Path) -> None:
    plain = (_app(built) / "README.md").read_text(encoding="utf-8")
    assert "## Splunk Enterprise Security" in plain and "`splunk.enterprise_security: false`" in plain
    text = (_app(es_built) / "README.md").read_text(encoding="utf-8")
    section = text.split("## Splunk Enterprise Security", 1)[1].split("\n## ", 1)[0]
    assert "`splunk.enterprise_security: true`" in section
    for level, score in RISK_SCORE.items():
        assert f"| {level} | {score} |" in section
    assert "| notable + risk: snaptrail_key (other, 75) |" in text
    assert "| risk: userIdentity.arn (user, " in text


def test_appinspect_precert_passes_with_enterprise_security(es_built: Path, tmp_path: Path) -> None:
    code, summary, findings = _inspect(_tgz(es_built, _es_context()), tmp_path)
    failed = [f for f in findings if f[0] in ("failure", "error")]
    assert code != FAILURES and not failed and summary["failure"] == 0 and summary["error"] == 0, failed
    assert code in (CLEAN, WARNINGS, FUTURE_FAILURES), (code, summary)
    for result, name, message in findings:
        warnings.warn(f"AppInspect {result}: {name}: {message}", stacklevel=1)
