"""dist/splunk/: a Splunk app of scheduled searches, one per rule, and its installable .tgz.

`snaptrail_cloudtrail/` is the app folder; `snaptrail_cloudtrail-<version>.tgz` is the same folder as a
deterministic archive (sorted members, fixed mtime, uid/gid 0, gzip mtime 0) for *Install app from
file*, Splunk Cloud private-app upload or `splunk install app`. Inside:

- `default/app.conf`, `app.manifest` (packaging toolkit schema 2.0.0), `metadata/default.meta`,
  `default/data/ui/nav/default.xml`, `README.md`;
- `default/macros.conf`: the base search `snaptrail_cloudtrail` (from `splunk.base_search`, where
  the admin sets the index) and one `<rule name>_filter` macro per rule (`search *`), the tuning seam;
- `default/savedsearches.conf`: one scheduled alert per rule the `splunk` target can express, the
  compiled query unchanged followed by `` | `<rule name>_filter` ``, disabled unless `splunk.enabled`.

A rule the `splunk` target cannot express is left out and listed in the app's README with the reason.

With `splunk.enterprise_security` on, every saved search is also a Splunk Enterprise Security
correlation search (`action.correlationsearch.*`, MITRE ATT&CK annotations) with a Risk Analysis action
(`action.risk`): single-event rules add risk to the calling principal and raise no notable (they are
the chains' building blocks), chains raise a notable (`action.notable`) and add risk to their key, the
way Splunk's ESCU splits risk rules from the rules that alert an analyst.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from snaptrail.backends.splunk import BASE_MACRO
from snaptrail.build.context import LEVELS, BuildContext, RuleInfo
from snaptrail.build.render import render
from snaptrail.config import SplunkSettings, relative_offset, short_duration

FOLDER = "splunk"
APP_ID = "snaptrail_cloudtrail"
TARGET = "splunk"
TITLE_PREFIX = "snaptrail - "
AUTHOR = "snaptrail"
LICENSE = ("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0")
LABEL = "snaptrail: AWS CloudTrail snapshot abuse"
# Archive members carry this mtime (1980-01-01T00:00:00Z): fixed, and old enough to be obviously
# synthetic without the "implausibly old time stamp" warnings some extractors print for 0.
ARCHIVE_MTIME = 315532800

# alert.severity on Splunk's own 1-6 scale (savedsearches.conf: 1 debug, 2 info, 3 warn, 4 error,
# 5 severe, 6 fatal), which Splunk Web shows as Info, Low, Medium, High and Critical for 2..6. The
# five Sigma levels take 2..6 so each keeps its own rank and is shown under its own name; 1 (debug)
# is left unused, since no rule is a debugging aid.
SEVERITY = {"informational": 2, "low": 3, "medium": 4, "high": 5, "critical": 6}
SEVERITY_LABEL = {2: "Info", 3: "Low", 4: "Medium", 5: "High", 6: "Critical"}

# --- Splunk Enterprise Security (splunk.enterprise_security) ---------------------------------------
# The risk score one alert adds to its risk object. ES sums an object's scores over a window and a risk
# incident rule raises a notable past a threshold; 100 is the threshold ES's documentation starts from.
# So one critical alert reaches it alone, two high alerts pass it, and the building blocks (low,
# informational) need many repetitions or a worse alert beside them.
RISK_SCORE = {"informational": 10, "low": 25, "medium": 50, "high": 75, "critical": 100}
# Sigma's five levels are also the names of ES notable severities (informational .. critical), so a
# notable's severity is the rule's level unchanged.
NOTABLE_SEVERITIES = LEVELS
# The ES security domain of every notable (access, endpoint, network, threat, identity, audit):
# snapshot sharing and export is data theft from the cloud control plane, which ES files under threat.
SECURITY_DOMAIN = "threat"
# Fields of the Splunk Add-on for AWS a single-event search returns (its events, unchanged).
PRINCIPAL_FIELD = "userIdentity.arn"
SOURCE_FIELD = "sourceIPAddress"
ACCOUNT_FIELD = "recipientAccountId"  # the account the call was made in
# What a chain search returns (snaptrail.backends.splunk ends every chain with
# `| table _time snaptrail_key event_ids`): the chain key and the ids of its events, nothing else.
CHAIN_KEY_FIELD = "snaptrail_key"
CHAIN_EVENTS_FIELD = "event_ids"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_PEP440 = re.compile(
    r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?P<pre>[.-]?[A-Za-z][0-9A-Za-z.]*)?(?:\+(?P<local>.+))?$"
)
_MACRO_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Schedule:
    """When a saved search runs, which events it reads, and how alerts on the overlap are deduplicated."""

    cron_schedule: str
    earliest_time: str
    latest_time: str
    suppress_period: str  # alert.suppress.period
    suppress_fields: tuple[str, ...]  # alert.suppress.fields (per-result alerting)


def schedule(rule: RuleInfo, config: SplunkSettings) -> Schedule:
    """How often a rule runs and which window it reads; the one place a rule's window is decided.

    Single-event rules run on `splunk.cron_schedule` (default every 10 minutes) over
    `earliest_time`..`latest_time` (default -20m@m..-5m@m): a 15-minute window for a 10-minute
    schedule, 5 minutes behind real time, so a CloudTrail event that reaches Splunk up to about
    10 minutes after its eventTime is still read. The overlap is deduplicated per event: alerts are
    per result, suppressed by `eventID` for longer than any event can stay inside the window.
    Chains (Sigma correlation rules) read their whole timespan on top of that window, so a chain whose
    first event is older than the schedule is still seen, and are suppressed per chain key."""
    earliest, snap = relative_offset(config.earliest_time)
    if rule.window_seconds:
        minutes = (earliest + rule.window_seconds + 59) // 60
        return Schedule(
            cron_schedule=config.cron_schedule,
            earliest_time=f"-{minutes}m@m",
            latest_time=config.latest_time,
            suppress_period=short_duration(timedelta(seconds=minutes * 60 + snap)),
            suppress_fields=("snaptrail_key",),
        )
    return Schedule(
        cron_schedule=config.cron_schedule,
        earliest_time=config.earliest_time,
        latest_time=config.latest_time,
        suppress_period=short_duration(timedelta(seconds=earliest + snap)),
        suppress_fields=("eventID",),
    )


def splunk_version(version: str) -> str:
    """The app version as Semantic Versioning (AppInspect requires it); a PEP 440 version such as
    0.2.0.dev3+g1a2b is written 0.2.0-dev3+g1a2b."""
    if _SEMVER.match(version):
        return version
    match = _PEP440.match(version)
    if match is None:
        raise ValueError(f"cannot express version {version!r} as Semantic Versioning for app.conf")
    core = ".".join(part or "0" for part in match.group(1, 2, 3))
    pre = re.sub(r"[^0-9A-Za-z]+", ".", (match["pre"] or "").lstrip(".-")).strip(".")
    local = re.sub(r"[^0-9A-Za-z]+", ".", match["local"] or "").strip(".")
    result = core + (f"-{pre}" if pre else "") + (f"+{local}" if local else "")
    if not _SEMVER.match(result):
        raise ValueError(f"cannot express version {version!r} as Semantic Versioning for app.conf")
    return result


def one_line(text: str) -> str:
    """Text as a single .conf line: whitespace (newlines included) collapsed, no trailing backslash."""
    return " ".join(text.split()).rstrip("\\").rstrip()


def conf_value(value: str, where: str) -> str:
    """A .conf value: a multi-line value continues each line with a trailing backslash, which Splunk
    turns back into a line break (as Splunk Web writes multi-line searches).

    What could break the file is refused: a line ending in a backslash would join the next line
    (and after the last line, swallow the next setting), and whitespace after a continuation
    backslash is an error to AppInspect; carriage returns become line breaks."""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, 1):
        if line.rstrip().endswith("\\"):
            raise ValueError(f"{where}: line {number} ends with a backslash, which a .conf file reads as "
                             "a continuation; this value cannot be written safely")  # fmt: skip
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not "".join(lines).strip():
        raise ValueError(f"{where}: empty value")
    return "\\\n".join(lines)


def stanza_name(text: str) -> str:
    """A stanza name on one line without the brackets that delimit it."""
    name = one_line(text).replace("[", "(").replace("]", ")")
    if not name:
        raise ValueError("empty stanza name")
    return name


def search_name(rule: RuleInfo) -> str:
    return stanza_name(TITLE_PREFIX + rule.title)


def filter_macro(rule: RuleInfo) -> str:
    name = f"{rule.name}_filter"
    if not _MACRO_NAME.match(name):
        raise ValueError(f"{rule.path}: rule file name {rule.name!r} does not make a valid macro name")
    return name


def search(rule: RuleInfo, query: str) -> str:
    """The compiled query unchanged, then the rule's tuning macro."""
    return query.rstrip() + f" | `{filter_macro(rule)}`"


def left_out_reason(rule: RuleInfo, error: str) -> str:
    """The conversion error without the `<file>: rule '<title>' (<id>): ` prefix the README line
    already gives (and without the absolute path, which would differ between checkouts)."""
    prefix = re.compile(r"^.*?: rule '.*?' \(" + re.escape(rule.id) + r"\): ")
    return one_line(prefix.sub("", error, count=1))


def included(context: BuildContext) -> tuple[list[tuple[RuleInfo, str]], list[tuple[RuleInfo, str]]]:
    """(rule, compiled SPL) for every rule Splunk can express, and (rule, reason) for the rules the
    target cannot express exactly (a TargetLimitation). Any other conversion failure is an error:
    the app would silently lack a rule (`snaptrail build` stops before packaging on such errors)."""
    rules: list[tuple[RuleInfo, str]] = []
    left_out: list[tuple[RuleInfo, str]] = []
    for rule in context.rules:
        conversion = context.conversions[TARGET].get(rule.id)
        if conversion is not None and conversion.ok:
            rules.append((rule, str(conversion.query)))
        elif conversion is not None and conversion.limitation:
            left_out.append((rule, left_out_reason(rule, str(conversion.error))))
        else:
            why = conversion.error if conversion is not None else "no conversion was produced"
            raise ValueError(f"{rule.path}: rule {rule.id} did not compile for {TARGET}: {why}")
    rules.sort(key=lambda item: (search_name(item[0]), item[0].id))
    left_out.sort(key=lambda item: (item[0].name, item[0].id))
    names = [search_name(rule) for rule, _ in rules]
    if len(set(names)) != len(names):
        raise ValueError("two rules have the same title, so their saved searches would collide")
    return rules, left_out


def _header(context: BuildContext, what: str) -> list[str]:
    return [
        f"# {what}",
        f"# Generated by snaptrail {context.version}; do not edit. Change settings in local/ (Splunk Web",
        "# writes there), which survives upgrades of this app.",
        "",
    ]


def _conf(sections: list[tuple[str, list[tuple[str, str]]]], header: list[str]) -> str:
    lines = list(header)
    for name, settings_ in sections:
        lines.append(f"[{name}]")
        lines += [f"{key} = {conf_value(value, f'[{name}] {key}')}" for key, value in settings_]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def app_conf(context: BuildContext) -> str:
    version = splunk_version(context.version)
    description = (
        "Scheduled searches for AWS snapshot abuse (creation, sharing, export, mounting) over CloudTrail "
        f"from the Splunk Add-on for AWS, built by snaptrail {context.version} from Sigma rules."
    )
    return _conf(
        [
            ("install", [("is_configured", "false")]),
            ("id", [("name", APP_ID), ("version", version)]),
            ("package", [("id", APP_ID), ("check_for_updates", "false")]),
            ("launcher", [("author", AUTHOR), ("description", description), ("version", version)]),
            ("ui", [("is_visible", "true"), ("label", LABEL)]),
        ],
        _header(context, "app.conf: identity of the snaptrail CloudTrail app"),
    )


def macros_conf(context: BuildContext, rules: list[tuple[RuleInfo, str]], config: SplunkSettings) -> str:
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            BASE_MACRO,
            [
                ("definition", config.base_search),
                (
                    "description",
                    "Base search of every snaptrail search: CloudTrail events as the Splunk Add-on for AWS "
                    "indexes them. Set your index here once, e.g. index=aws sourcetype=aws:cloudtrail.",
                ),
                ("iseval", "0"),
            ],
        )
    ]
    for rule, _ in sorted(rules, key=lambda item: filter_macro(item[0])):
        sections.append(
            (
                filter_macro(rule),
                [
                    ("definition", "search *"),
                    (
                        "description",
                        f"Tuning for the saved search '{search_name(rule)}': replace 'search *' with a "
                        'filter, e.g. search NOT userIdentity.arn="arn:aws:iam::111122223333:role/scanner".',
                    ),
                    ("iseval", "0"),
                ],
            )
        )
    return _conf(sections, _header(context, "macros.conf: the base search and one tuning macro per search"))


def description(rule: RuleInfo, context: BuildContext) -> str:
    techniques = ", ".join(t.id for t in rule.techniques) or "none"
    return one_line(
        f"{rule.description} [level {rule.level}; ATT&CK {techniques}; Sigma rule {rule.id} "
        f"({rule.path}); snaptrail {context.version}]"
    )


def chain_key_fields(context: BuildContext, rule: RuleInfo) -> frozenset[str]:
    """The Sigma fields a chain's steps read its key from (group-by aliases resolved to each step's
    field); empty for a single-event rule."""
    chain = context.corpus.by_id.get(rule.id)
    if not rule.is_chain or not isinstance(chain, SigmaCorrelationRule):
        return frozenset()
    aliases = chain.aliases.aliases if chain.aliases is not None else {}
    fields: set[str] = set()
    for name in chain.group_by or ():
        alias = aliases.get(name)
        fields |= set(alias.mapping.values()) if alias is not None else {name}
    return frozenset(fields)


def risk_objects(context: BuildContext, rule: RuleInfo) -> list[dict[str, Any]]:
    """`action.risk.param._risk`: what an alert adds risk to, and the threat objects it names.

    A single-event alert scores its caller (a user: ES matches it against its identities) and the
    account it happened in (an `other` object: ES knows no account type), and names the source
    address as a threat object, which carries no score. A chain's results hold its key
    only, so the key is scored: a user when every step reads it from the caller's ARN, the same risk
    object its steps score, else an `other` object (a snapshot id, for instance)."""
    score = RISK_SCORE[rule.level]
    if rule.is_chain:
        kind = "user" if chain_key_fields(context, rule) == {PRINCIPAL_FIELD} else "other"
        return [{"risk_object_field": CHAIN_KEY_FIELD, "risk_object_type": kind, "risk_score": score}]
    return [
        {"risk_object_field": PRINCIPAL_FIELD, "risk_object_type": "user", "risk_score": score},
        {"risk_object_field": ACCOUNT_FIELD, "risk_object_type": "other", "risk_score": score},
        {"threat_object_field": SOURCE_FIELD, "threat_object_type": "ip_address"},
    ]


def risk_message(rule: RuleInfo) -> str:
    """`action.risk.param._risk_message`, with ES's $field$ tokens of the search's results."""
    if rule.is_chain:
        return one_line(f"{rule.title}: ${CHAIN_KEY_FIELD}$")
    return one_line(f"{rule.title}: ${PRINCIPAL_FIELD}$ called $eventName$ from ${SOURCE_FIELD}$")


def enterprise_security_settings(context: BuildContext, rule: RuleInfo) -> list[tuple[str, str]]:
    """The ES keys of one saved search: a correlation search with a risk action, and for a chain a
    notable whose title names the chain key and whose drill-down reads the events holding it."""
    if rule.level not in NOTABLE_SEVERITIES:
        raise ValueError(f"{rule.path}: level {rule.level!r} is not one of {list(NOTABLE_SEVERITIES)}")
    annotations = {"mitre_attack": sorted({technique.id for technique in rule.techniques})}
    settings_ = [
        ("action.correlationsearch.enabled", "1"),
        ("action.correlationsearch.label", search_name(rule)),
        ("action.correlationsearch.annotations", json.dumps(annotations, sort_keys=True)),
        ("action.risk", "1"),
        ("action.risk.param._risk", json.dumps(risk_objects(context, rule), sort_keys=True)),
        ("action.risk.param._risk_message", risk_message(rule)),
    ]
    if not rule.is_chain:
        return settings_  # a building block: risk only, no notable
    key = f"${CHAIN_KEY_FIELD}$"
    next_steps = rule.triage or rule.description
    return [
        *settings_,
        ("action.notable", "1"),
        ("action.notable.param.rule_title", one_line(f"{rule.title}: {key}")),
        ("action.notable.param.rule_description", one_line(rule.description)),
        ("action.notable.param.security_domain", SECURITY_DOMAIN),
        ("action.notable.param.severity", rule.level),
        # The key (a snapshot id, a principal ARN) is in the raw text of every event of the chain; the
        # run's own window ($info_min_time$ .. $info_max_time$) covers the chain's whole timespan.
        ("action.notable.param.drilldown_name", f"CloudTrail events naming {key}"),
        ("action.notable.param.drilldown_search", f'`{BASE_MACRO}` "{key}"'),
        ("action.notable.param.drilldown_earliest_offset", "$info_min_time$"),
        ("action.notable.param.drilldown_latest_offset", "$info_max_time$"),
        # Incident Review shows next steps as text (ES stores them as JSON, version 1).
        ("action.notable.param.next_steps", json.dumps({"data": next_steps, "version": 1}, sort_keys=True)),
    ]


def savedsearch_settings(
    context: BuildContext, rule: RuleInfo, query: str, config: SplunkSettings
) -> list[tuple[str, str]]:
    if rule.level not in SEVERITY:
        raise ValueError(f"{rule.path}: level {rule.level!r} is not one of {list(SEVERITY)}")
    when = schedule(rule, config)
    enterprise = enterprise_security_settings(context, rule) if config.enterprise_security else []
    return [
        ("search", search(rule, query)),
        ("description", description(rule, context)),
        ("disabled", "0" if config.enabled else "1"),
        ("enableSched", "1"),
        ("cron_schedule", when.cron_schedule),
        ("dispatch.earliest_time", when.earliest_time),
        ("dispatch.latest_time", when.latest_time),
        ("counttype", "number of events"),
        ("relation", "greater than"),
        ("quantity", "0"),
        ("alert.digest_mode", "0"),
        ("alert.suppress", "1"),
        ("alert.suppress.fields", ",".join(when.suppress_fields)),
        ("alert.suppress.period", when.suppress_period),
        ("alert.track", "1"),
        ("alert.severity", str(SEVERITY[rule.level])),
        ("request.ui_dispatch_app", APP_ID),
        ("request.ui_dispatch_view", "search"),
        *enterprise,
    ]


def savedsearches_conf(
    context: BuildContext, rules: list[tuple[RuleInfo, str]], config: SplunkSettings
) -> str:
    sections = [
        (search_name(rule), savedsearch_settings(context, rule, query, config)) for rule, query in rules
    ]
    return _conf(sections, _header(context, "savedsearches.conf: one scheduled alert per Sigma rule"))


def default_meta(context: BuildContext) -> str:
    """Permissions of the app's knowledge objects (build/templates/splunk/default.meta)."""
    header = _header(context, "default.meta: permissions of the app's knowledge objects")
    return render("splunk/default.meta", header="\n".join(header))


def nav_xml() -> str:
    return render("splunk/default.xml", app_id=APP_ID)


def app_manifest(context: BuildContext) -> str:
    """Packaging toolkit app manifest, schema 2.0.0."""
    manifest: dict[str, Any] = {
        "schemaVersion": "2.0.0",
        "info": {
            "title": LABEL,
            "id": {"group": None, "name": APP_ID, "version": splunk_version(context.version)},
            "author": [{"name": AUTHOR, "email": None, "company": None}],
            "releaseDate": None,
            "description": (
                "Scheduled searches for AWS snapshot abuse over CloudTrail (Splunk Add-on for AWS, "
                f"sourcetype aws:cloudtrail), compiled from Sigma rules by snaptrail {context.version}."
            ),
            "classification": {
                "intendedAudience": "Security",
                "categories": ["Security, Fraud & Compliance"],
                "developmentStatus": "Production/Stable",
            },
            "commonInformationModels": None,
            "license": {"name": LICENSE[0], "text": None, "uri": LICENSE[1]},
            "privacyPolicy": {"name": None, "text": None, "uri": None},
            "releaseNotes": {"name": "README", "text": "README.md", "uri": None},
        },
        "dependencies": None,
        "tasks": None,
        "inputGroups": None,
        "incompatibleApps": None,
        "platformRequirements": None,
        "supportedDeployments": ["_standalone", "_distributed", "_search_head_clustering"],
        "targetWorkloads": ["_search_heads"],
    }
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def readme(
    context: BuildContext,
    rules: list[tuple[RuleInfo, str]],
    left_out: list[tuple[RuleInfo, str]],
    config: SplunkSettings,
) -> str:
    """README.md of the app (build/templates/splunk/README.md)."""
    return render(
        "splunk/README.md",
        version=context.version,
        app_id=APP_ID,
        tgz=f"{APP_ID}-{splunk_version(context.version)}.tgz",
        base_macro=BASE_MACRO,
        settings=config,
        example=schedule(rules[0][0], config) if rules else None,
        levels=[
            {"name": level, "severity": SEVERITY[level], "label": SEVERITY_LABEL[SEVERITY[level]]}
            for level in LEVELS
        ],
        searches=[
            {
                "rule": rule,
                "name": search_name(rule),
                "severity": SEVERITY[rule.level],
                "macro": filter_macro(rule),
                "risk": [
                    f"{o['risk_object_field']} ({o['risk_object_type']}, {o['risk_score']})"
                    for o in risk_objects(context, rule)
                    if "risk_object_field" in o
                ],
            }
            for rule, _ in rules
        ],
        risk_scores=[{"name": level, "score": RISK_SCORE[level]} for level in LEVELS],
        principal_field=PRINCIPAL_FIELD,
        source_field=SOURCE_FIELD,
        account_field=ACCOUNT_FIELD,
        chain_key_field=CHAIN_KEY_FIELD,
        security_domain=SECURITY_DOMAIN,
        left_out=[(rule, one_line(reason)) for rule, reason in left_out],
        provenance=context.provenance(),
    )


def app_files(context: BuildContext) -> dict[str, str]:
    """Relative path in the app folder -> content."""
    config = context.config.splunk
    rules, left_out = included(context)
    return {
        "README.md": readme(context, rules, left_out, config),
        "app.manifest": app_manifest(context),
        "default/app.conf": app_conf(context),
        "default/data/ui/nav/default.xml": nav_xml(),
        "default/macros.conf": macros_conf(context, rules, config),
        "default/savedsearches.conf": savedsearches_conf(context, rules, config),
        "metadata/default.meta": default_meta(context),
    }


def write_tgz(folder: Path, archive: Path) -> None:
    """`folder` as a .tgz whose bytes depend only on the files' names and contents."""
    members = [folder, *sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in members:
            name = (Path(folder.name) / path.relative_to(folder)).as_posix()
            info = tarfile.TarInfo(name)
            info.mtime = ARCHIVE_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    with archive.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())


def write_splunk(context: BuildContext, out: Path) -> list[Path]:
    root = out / FOLDER
    app = root / APP_ID
    shutil.rmtree(app, ignore_errors=True)  # the archive must hold this build's files only
    for stale in root.glob(f"{APP_ID}-*.tgz"):
        stale.unlink()
    written: list[Path] = []
    for relative, content in sorted(app_files(context).items()):
        path = app / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    archive = root / f"{APP_ID}-{splunk_version(context.version)}.tgz"
    write_tgz(app, archive)
    return [*written, archive]
