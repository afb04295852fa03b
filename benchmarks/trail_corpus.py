"""A deterministic, realistic CloudTrail corpus with planted attacks and the alerts they must raise.

    .venv/bin/python benchmarks/trail_corpus.py --events 1000000 [--out DIR] [--workers 2]

What is in it:
- background (trail_background): a busy estate's everyday calls over 4 accounts and 5 regions;
- snapshot-area look-alikes, ~3% with the planted events: copies of the shipped fixtures' records
  that raise no alert on their own (AWS Backup and DLM snapshots, describes, same-account copies,
  unshares, refused and dry-run calls...), with new ids, times, accounts and regions;
- planted: every record that raises an alert and every chain case's records (firing and look-alike
  trails), copied once per `EVENTS_PER_ROUND` events with new eventIDs, times shifted into the corpus
  window (a chain's relative timing kept to the second), the account and regions rewritten
  consistently, and the principals and EBS ids made unique to the copy.

The alerts the corpus must raise come from bookkeeping, not from scanning it: one reference run of
`snaptrail.scan.scan` over the templates alone, each template days from any other so that none can
take part in another's chain, gives each template's alerts by record position; a planted copy must
raise exactly those, with its own eventIDs. That run also proves every background template and every
look-alike raises nothing.

Why noise cannot complete a chain: every chain's steps are rules that alert on their own
(`generate: true`), and no background or look-alike record raises an alert in the reference run, so
none is a step; two planted copies cannot combine either, as each copy's principals (userIdentity.arn,
the key of the per-principal chains) and snapshot, volume, instance and image ids (the key of the
per-snapshot chains) are its own.

Files follow CloudTrail's S3 key layout, one per account, region and 5-minute window
(AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_
<random>.json.gz), records compact with eventVersion first; `expected.jsonl` and `manifest.json` sit
beside AWSLogs/. Every choice comes from a seeded RNG and gzip is written with mtime 0, so a size
gives byte-identical files; a folder already holding the corpus of the same size, seed and generator
is reused.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import gzip
import hashlib
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trail_background as bg

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
CONFIG = REPO / "snaptrail.yml"

SEED = 20260601
START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_S = 300  # CloudTrail delivers a file per region about every five minutes
EVENTS_PER_MINUTE = 2_000  # the estate's rate: 10M events are ~3.5 days
SNAPSHOT_AREA_SHARE = 0.03
LOOKALIKE_MIN_SHARE = 0.01  # small corpora still hold look-alikes beside the planted copies
EVENTS_PER_ROUND = 250_000  # one planted copy of every template per this many events
GZIP_LEVEL = 6
REFERENCE_GAP = timedelta(days=3)  # longer than any chain's timespan (24h) plus its trail
MANIFEST = "manifest.json"
EXPECTED = "expected.jsonl"
LOGS = "AWSLogs"

ACCOUNT_IDS = tuple(account for account, _, _ in bg.ACCOUNTS)
REGION_NAMES = tuple(region for region, _ in bg.REGIONS)

ACCOUNT_RE = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
REGION_RE = re.compile(
    r"(?<![a-z0-9-])(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-)?"
    r"(?:east|west|north|south|central|northeast|southeast|northwest|southwest)-[0-9](?![0-9])"
)
# The EBS and EC2 ids the per-snapshot chains and the mount chains follow (17 hex digits, or the older 8).
RESOURCE_RE = re.compile(r"(?<![A-Za-z0-9-])(snap|vol|i|ami)-([0-9a-f]{17}|[0-9a-f]{8})(?![A-Za-z0-9-])")
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class CorpusError(Exception):
    """The generator's own consistency checks failed: one line, naming the template."""


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _uuid_of(h: str) -> str:
    """A version-4 UUID from 32 random hex digits (formatting, not uuid.UUID: this runs per record)."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _uuid(rng: random.Random) -> str:
    return _uuid_of(f"{rng.getrandbits(128):032x}")


def _compact(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


# --- templates: the fixture records the corpus copies -------------------------------------------


@dataclass
class Template:
    """Records copied together (one record, or a chain case's trail) and the alerts they raise alone,
    each as (rule_id, positions of its events in `records`)."""

    name: str
    records: list[dict[str, Any]]
    alerts: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    @property
    def span(self) -> timedelta:
        times = [_parse_time(r["eventTime"]) for r in self.records]
        return max(times) - min(times)


def fixture_templates() -> tuple[list[Template], list[Template]]:
    """(every distinct fixture record file as a one-record template, every chain case's trail);
    which records are planted and which are look-alikes is decided by the reference run."""
    from snaptrail.fixtures import load_fixtures

    fixtures = load_fixtures([FIXTURES])
    if fixtures.problems:
        raise CorpusError(f"fixtures: {fixtures.problems[0].text()}")
    seen: dict[Path, Template] = {}
    for case in fixtures.records:
        seen.setdefault(case.record_path, Template(case.label, [case.record]))
    chains = [Template(case.name, list(case.records)) for case in fixtures.chains]
    return list(seen.values()), chains


# --- rewriting a template's records for one copy --------------------------------------------------


@dataclass
class Rewrite:
    """How one copy differs from its template: accounts and regions mapped, times shifted, EBS/EC2
    ids and (when `tag` is set) principals made the copy's own, eventIDs and requestIDs new."""

    accounts: dict[str, str]
    regions: dict[str, str]
    shift: timedelta
    rng: random.Random
    tag: str | None = None
    ids: dict[str, str] = field(default_factory=dict)

    def _resource(self, match: re.Match[str]) -> str:
        token = match.group(0)
        new = self.ids.get(token)
        if new is None:
            width = len(match.group(2))
            new = f"{match.group(1)}-{self.rng.getrandbits(width * 4):0{width}x}"
            self.ids[token] = new
        return new

    def _time(self, match: re.Match[str]) -> str:
        return (_parse_time(match.group(0)) + self.shift).strftime(TIME_FORMAT)

    def text(self, text: str) -> str:
        text = ACCOUNT_RE.sub(lambda m: self.accounts.get(m.group(0), m.group(0)), text)
        text = REGION_RE.sub(lambda m: self.regions.get(m.group(0), m.group(0)), text)
        text = RESOURCE_RE.sub(self._resource, text)
        return TIME_RE.sub(self._time, text)

    def apply(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        texts = [self.text(_compact(record)) for record in records]
        replace: dict[str, str] = {}
        for parsed in map(json.loads, texts):
            request_id = parsed.get("requestID")
            if isinstance(request_id, str) and request_id not in replace:
                replace[request_id] = _uuid(self.rng) if "-" in request_id else _s3_request_id(self.rng)
            if self.tag is not None:
                replace.update(_principal_renames(parsed.get("userIdentity"), self.tag))
        if replace:
            pattern = re.compile("|".join(re.escape(json.dumps(old)) for old in replace))
            texts = [pattern.sub(lambda m: json.dumps(replace[json.loads(m.group(0))]), t) for t in texts]
        copies = [json.loads(text) for text in texts]
        for copy in copies:
            copy["eventID"] = _uuid(self.rng)
            identity = copy.get("userIdentity")
            if self.tag is not None and isinstance(identity, dict) and identity.get("type") == "IAMUser":
                arn = str(identity.get("arn", ""))
                identity["userName"] = arn.rsplit("/", 1)[-1]
        return copies


def _s3_request_id(rng: random.Random) -> str:
    # S3's request ids are 16 upper-case hex digits.
    return f"{rng.getrandbits(64):016X}"


def _tagged(name: str, tag: str) -> str:
    local, at, domain = name.partition("@")
    return f"{local}+{tag}@{domain}" if at else f"{name}-{tag}"


def _principal_renames(identity: Any, tag: str) -> dict[str, str]:
    """A principal of one copy: the session (assumed role) or user name gets the copy's tag, in the
    ARN and the principalId; the role, its path and the account stay (filters read those)."""
    if not isinstance(identity, dict) or not isinstance(identity.get("arn"), str):
        return {}
    arn = identity["arn"]
    kind = identity.get("type")
    renames: dict[str, str] = {}
    if kind == "AssumedRole" and ":assumed-role/" in arn:
        head, session = arn.rsplit("/", 1)
        new_session = _tagged(session, tag)
        renames[arn] = f"{head}/{new_session}"
        principal = identity.get("principalId")
        if isinstance(principal, str) and principal.endswith(f":{session}"):
            renames[principal] = principal[: -len(session)] + new_session
    elif kind == "IAMUser" and ":user/" in arn:
        head, user = arn.rsplit("/", 1)
        renames[arn] = f"{head}/{_tagged(user, tag)}"
    return renames


def _owner_accounts(records: Sequence[dict[str, Any]]) -> list[str]:
    owners: list[str] = []
    for record in records:
        account = record.get("recipientAccountId")
        if isinstance(account, str) and account not in owners:
            owners.append(account)
    return owners


def _regions_named(records: Sequence[dict[str, Any]]) -> list[str]:
    named: list[str] = []
    for record in records:
        first = record.get("awsRegion")
        for region in [first, *REGION_RE.findall(_compact(record))]:
            if isinstance(region, str) and region not in named:
                named.append(region)
    return named


def mapping_for(
    records: Sequence[dict[str, Any]], account: str, region: str, rng: random.Random, name: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Accounts and regions of a copy: its (first) owner account becomes `account`, any other owner a
    different corpus account; its first region becomes `region` and every other region it names a
    different corpus region. A bijection on what the template names, so every equality and
    inequality between accounts or regions (fieldref rules) survives."""
    owners = _owner_accounts(records)
    others = [a for a in ACCOUNT_IDS if a != account]
    rng.shuffle(others)
    if len(owners) > len(ACCOUNT_IDS):
        raise CorpusError(f"{name}: names {len(owners)} owner accounts, more than the corpus has")
    accounts = dict(zip(owners, [account, *others], strict=False))
    named = _regions_named(records)
    if len(named) > len(REGION_NAMES):
        raise CorpusError(f"{name}: names {len(named)} regions, more than the corpus has")
    spare = [r for r in REGION_NAMES if r != region]
    rng.shuffle(spare)
    regions = dict(zip(named, [region, *spare], strict=False))
    return accounts, regions


# --- the reference run --------------------------------------------------------------------------

REFERENCE_START = datetime(2020, 1, 1, tzinfo=UTC)


def _content() -> Any:
    from snaptrail.content import resolve_content

    return resolve_content(config_path=CONFIG)


Alerts = list[tuple[str, tuple[int, ...]]]  # (rule_id, positions of the alert's events in the template)


def reference(templates: Sequence[Template], background: Sequence[str]) -> list[Alerts]:
    """Each template's alerts when scanned alone (by record position), from one scan where every
    template is REFERENCE_GAP from the next; the background records are scanned beside them and must
    raise nothing."""
    from snaptrail.scan import scan

    records: list[dict[str, Any]] = []
    for index, template in enumerate(templates):
        first = min(_parse_time(r["eventTime"]) for r in template.records)
        shift = REFERENCE_START + index * REFERENCE_GAP - first
        rewrite = Rewrite({}, {}, shift, random.Random(index))
        for position, text in enumerate(rewrite.text(_compact(r)) for r in template.records):
            record = json.loads(text)
            record["eventID"] = f"ref-{index}-{position}"
            records.append(record)
    for position, text in enumerate(background):
        record = json.loads(text)
        record["eventID"] = f"bg-{position}"
        records.append(record)
    content = _content()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "reference.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
        result = scan([path], content.rules, content.config, content.filters)
    if result.read.problems or result.failed_rules:
        raise CorpusError(f"reference run: {len(result.read.problems)} unreadable, rules not run: "
                          f"{[c.error for c in result.failed_rules][:1]}")  # fmt: skip
    alerts: list[Alerts] = [[] for _ in templates]
    for alert in result.alerts:
        if any(i.startswith("bg-") for i in alert.event_ids):
            position = int(next(i for i in alert.event_ids if i.startswith("bg-"))[3:])
            raise CorpusError(f"background record raises {alert.rule_id}: {background[position][:200]}")
        owners = {i.split("-")[1] for i in alert.event_ids}
        if len(owners) != 1:
            raise CorpusError(f"reference run: alert {alert.rule_id} spans templates {sorted(owners)}")
        index = int(owners.pop())
        alerts[index].append((alert.rule_id, tuple(int(i.split("-")[2]) for i in alert.event_ids)))
    return alerts


# --- planning the corpus --------------------------------------------------------------------------


@dataclass(frozen=True)
class FileSpec:
    account: str
    region: str
    window: int
    background: int
    lookalikes: int
    planted: tuple[tuple[str, str], ...]  # (eventTime, record JSON)


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder; ties by position: deterministic)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [math.floor(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _diurnal(window: int) -> float:
    # Busier in the estate's working hours (peak 14:00 UTC), never idle.
    hour = (window * WINDOW_S / 3600) % 24
    return 1.0 + 0.6 * math.cos((hour - 14) / 24 * 2 * math.pi)


def _span_windows(events: int, longest: timedelta) -> int:
    by_rate = events / EVENTS_PER_MINUTE * 60
    needed = longest.total_seconds() + 3600
    return max(1, math.ceil(max(by_rate, needed) / WINDOW_S))


@dataclass
class Plan:
    events: int
    windows: int
    files: list[FileSpec]
    expected: list[tuple[str, tuple[str, ...]]]
    counts: dict[str, int]
    lookalike_pool: list[str]
    lookalike_weights: list[float]


def _weighted(rng: random.Random, items: Sequence[tuple[str, float]]) -> str:
    cumulative, total = [], 0.0
    for _, weight in items:
        total += weight
        cumulative.append(total)
    return items[bisect.bisect_right(cumulative, rng.random() * total)][0]


@functools.cache
def templates() -> tuple[tuple[Template, ...], tuple[Template, ...]]:
    """(planted templates, look-alike templates), each with its alerts from the one reference run:
    planted are the records that raise an alert and every chain case's trail; look-alikes are the
    records that raise nothing with the shipped filters and snaptrail.yml: the `no_match` cases, and
    the `match` cases of the rules as written that the filters leave out (AWS Backup, DLM, Image
    Builder and other service roles' own calls)."""
    records, chains = fixture_templates()
    _check_corpus_accounts([*records, *chains])
    alerts = reference([*records, *chains], background_sample())
    for template, found in zip([*records, *chains], alerts, strict=True):
        template.alerts = found
    planted = [t for t in records if t.alerts] + chains
    lookalikes = [t for t in records if not t.alerts]
    return tuple(planted), tuple(lookalikes)


def plan(events: int, seed: int = SEED) -> Plan:
    planted, lookalikes = templates()
    longest = max(t.span for t in planted)
    windows = _span_windows(events, longest)
    span = timedelta(seconds=windows * WINDOW_S)
    rng = random.Random(f"{seed}/{events}/planted")
    rounds = max(1, round(events / EVENTS_PER_ROUND))
    expected: list[tuple[str, tuple[str, ...]]] = []
    by_file: dict[tuple[str, str, int], list[tuple[str, str]]] = {}
    serial = 0
    for _ in range(rounds):
        for template in planted:
            serial += 1
            account = _weighted(rng, [(a, w) for a, _, w in bg.ACCOUNTS])
            region = _weighted(rng, list(bg.REGIONS))
            accounts, regions = mapping_for(template.records, account, region, rng, template.name)
            first = min(_parse_time(r["eventTime"]) for r in template.records)
            room = int((span - template.span).total_seconds()) - 1
            anchor = START + timedelta(seconds=rng.randrange(max(1, room)))
            rewrite = Rewrite(accounts, regions, anchor - first, rng, tag=f"p{serial:05d}")
            copies = rewrite.apply(template.records)
            for rule_id, positions in template.alerts:
                expected.append((rule_id, tuple(copies[p]["eventID"] for p in positions)))
            for copy in copies:
                moment = _parse_time(copy["eventTime"])
                window = int((moment - START).total_seconds()) // WINDOW_S
                key = (str(copy["recipientAccountId"]), str(copy["awsRegion"]), window)
                by_file.setdefault(key, []).append((copy["eventTime"], _compact(copy)))
    planted_events = sum(len(v) for v in by_file.values())
    area = max(round(events * SNAPSHOT_AREA_SHARE), planted_events + round(events * LOOKALIKE_MIN_SHARE))
    lookalike_events = area - planted_events
    background_events = events - area
    if background_events < 0:
        raise CorpusError(f"{events} events cannot hold {planted_events} planted events; ask for more")
    keys = [(a, r, w) for w in range(windows) for a, _, _ in bg.ACCOUNTS for r, _ in bg.REGIONS]
    account_weight = {a: w for a, _, w in bg.ACCOUNTS}
    region_weight = dict(bg.REGIONS)
    weights = [account_weight[a] * region_weight[r] * _diurnal(w) for a, r, w in keys]
    background = _allocate(background_events, weights)
    looks = _allocate(lookalike_events, weights)
    known = set(keys)
    for key in by_file:
        if key not in known:
            keys.append(key)
            background.append(0)
            looks.append(0)
    files = [
        FileSpec(a, r, w, n, m, tuple(sorted(by_file.get((a, r, w), []))))
        for (a, r, w), n, m in zip(keys, background, looks, strict=True)
        if n or m or (a, r, w) in by_file
    ]
    files.sort(key=lambda f: (f.account, f.region, f.window))
    pool = [_compact(t.records[0]) for t in lookalikes]
    pool_weights = [_lookalike_weight(t.records[0]) for t in lookalikes]
    counts = {
        "events": events,
        "background": background_events,
        "lookalikes": lookalike_events,
        "planted": planted_events,
        "planted_copies": serial,
        "rounds": rounds,
        "templates_planted": len(planted),
        "templates_lookalike": len(lookalikes),
        "alerts_expected": len(expected),
    }
    return Plan(events, windows, files, sorted(expected), counts, pool, pool_weights)


def _lookalike_weight(record: dict[str, Any]) -> float:
    # AWS services' own snapshot work (AWS Backup, DLM, ...) is most of the snapshot-area traffic a
    # real trail holds, then people's successful calls; refused and dry-run calls are rarer.
    identity = record.get("userIdentity") or {}
    if record.get("errorCode"):
        return 1.0
    if identity.get("type") == "AWSService" or identity.get("invokedBy"):
        return 12.0
    return 4.0


def _check_corpus_accounts(templates: Sequence[Template]) -> None:
    for template in templates:
        text = json.dumps(template.records)
        for account in ACCOUNT_IDS:
            if account in text:
                raise CorpusError(f"{template.name}: names corpus account {account}; pick another")


def background_sample() -> list[str]:
    """Every background template of every account, rendered once with its first pool values."""
    sample: list[str] = []
    moment = START.strftime(TIME_FORMAT)
    for account, name, _ in bg.ACCOUNTS:
        for region, _ in bg.REGIONS:
            stream = bg.stream(account, name, region)
            for template, principal, _ in stream.templates:
                values = {key: options[0] for key, options in stream.pools.values.items()}
                values.update(_record_slots(random.Random(0), moment, principal))
                sample.append(template % values)
    return sample


# --- writing files (in worker processes) ----------------------------------------------------------


def _record_slots(rng: random.Random, moment: str, principal: bg.Principal) -> dict[str, str]:
    # One draw of random bits for the ids of a record: this runs for every background record.
    h = f"{rng.getrandbits(368):092x}"
    ips, agents = principal.ips, principal.agents
    return {
        "t": moment,
        "id": _uuid_of(h[:32]),
        "rid": _uuid_of(h[32:64]),
        "s3rid": h[64:80].upper(),
        "cd": moment[:14] + "00:00Z",
        "ip": ips[int(rng.random() * len(ips))],
        "ua": agents[int(rng.random() * len(agents))],
        "n": str(1_700_000_000 + int(h[80:92], 16) % 100_000_000),
    }


_STATE: dict[str, Any] = {}


def _init_worker(seed: int, events: int, pool: list[str], pool_weights: list[float]) -> None:
    _STATE.update(seed=seed, events=events, streams={}, pool=[json.loads(p) for p in pool])
    cumulative, total = [], 0.0
    for weight in pool_weights:
        total += weight
        cumulative.append(total)
    _STATE["pool_cumulative"] = cumulative


def _stream(account: str, region: str) -> bg.Stream:
    streams: dict[tuple[str, str], bg.Stream] = _STATE["streams"]
    key = (account, region)
    if key not in streams:
        name = next(n for a, n, _ in bg.ACCOUNTS if a == account)
        streams[key] = bg.stream(account, name, region)
    return streams[key]


_TOKEN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def file_path(spec: FileSpec, rng: random.Random) -> str:
    end = START + timedelta(seconds=(spec.window + 1) * WINDOW_S)
    token = "".join(rng.choice(_TOKEN_LETTERS) for _ in range(16))
    return (
        f"{LOGS}/{spec.account}/CloudTrail/{spec.region}/{end:%Y/%m/%d}/"
        f"{spec.account}_CloudTrail_{spec.region}_{end:%Y%m%dT%H%MZ}_{token}.json.gz"
    )


def render_file(spec: FileSpec) -> tuple[str, bytes]:
    """(relative path, gzip bytes) of one log file: its background, look-alikes and planted records."""
    rng = random.Random(f"{_STATE['seed']}/{_STATE['events']}/{spec.account}/{spec.region}/{spec.window}")
    begin = START + timedelta(seconds=spec.window * WINDOW_S)
    # A window is five whole minutes of one hour: a moment is the hour's prefix, minute and second.
    prefix, minute = begin.strftime("%Y-%m-%dT%H:"), begin.minute
    seconds = sorted(int(rng.random() * WINDOW_S) for _ in range(spec.background + spec.lookalikes))
    moments = [f"{prefix}{minute + s // 60:02d}:{s % 60:02d}Z" for s in seconds]
    # Which moments hold a look-alike: a seeded sample, so look-alikes are spread over the window.
    looks = set(rng.sample(range(len(moments)), spec.lookalikes))
    stream = _stream(spec.account, spec.region)
    templates, cumulative, pools = stream.templates, stream.cumulative, stream.pools.values
    top = cumulative[-1]
    entries: list[tuple[str, str]] = []
    for index, moment in enumerate(moments):
        if index in looks:
            entries.append((moment, _lookalike(rng, moment, spec)))
            continue
        template, principal, kind = templates[bisect.bisect_right(cumulative, rng.random() * top)]
        values = _record_slots(rng, moment, principal)
        for slot in kind.slots:
            options = pools[slot]
            values[slot] = options[int(rng.random() * len(options))]
        entries.append((moment, template % values))
    entries.extend(spec.planted)
    entries.sort(key=lambda entry: entry[0])
    body = '{"Records":[' + ",".join(text for _, text in entries) + "]}"
    path = file_path(spec, rng)
    return path, gzip.compress(body.encode("utf-8"), compresslevel=GZIP_LEVEL, mtime=0)


def _lookalike(rng: random.Random, moment: str, spec: FileSpec) -> str:
    cumulative = _STATE["pool_cumulative"]
    record = _STATE["pool"][bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
    accounts, regions = mapping_for([record], spec.account, spec.region, rng, "look-alike")
    shift = _parse_time(moment) - _parse_time(record["eventTime"])
    # No tag: a look-alike keeps its principal (AWS Backup's and DLM's sessions recur in real trails).
    return _compact(Rewrite(accounts, regions, shift, rng).apply([record])[0])


def _write(folder: Path, item: tuple[str, bytes]) -> int:
    path = folder / item[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(item[1])
    return len(item[1])


# --- the corpus as a folder -----------------------------------------------------------------------


def fingerprint(events: int, seed: int) -> str:
    """What a corpus depends on: size, seed, this generator and the fixtures it copies."""
    digest = hashlib.sha256(f"{events}/{seed}".encode())
    sources = [Path(__file__), Path(bg.__file__), *sorted(FIXTURES.rglob("*.json"))]
    sources += sorted(FIXTURES.rglob("*.yml"))
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Corpus:
    folder: Path
    manifest: dict[str, Any]
    reused: bool = False

    @property
    def logs(self) -> Path:
        return self.folder / LOGS

    def expected(self) -> Counter[tuple[str, tuple[str, ...]]]:
        found: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for line in (self.folder / EXPECTED).read_text(encoding="utf-8").splitlines():
            alert = json.loads(line)
            found[(alert["rule_id"], tuple(alert["event_ids"]))] += 1
        return found

    def files(self) -> Iterator[Path]:
        return iter(sorted(self.logs.rglob("*.json.gz")))


def ensure(folder: Path, events: int, workers: int = 2, seed: int = SEED, log: bool = False) -> Corpus:
    """The corpus of `events` events in `folder`: reused when its manifest says it is this one,
    generated otherwise (into a sibling folder renamed into place, so a half-written corpus is never
    taken for a whole one)."""
    mark = fingerprint(events, seed)
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("fingerprint") == mark:
            return Corpus(folder, manifest, reused=True)
    if folder.exists() and any(folder.iterdir()) and not manifest_path.is_file():
        raise CorpusError(f"{folder}: not empty and holds no {MANIFEST}; refusing to overwrite it")
    started = time.perf_counter()
    work = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    the_plan = plan(events, seed)
    if log:
        print(f"corpus {events}: planned in {time.perf_counter() - started:.1f} s; "
              f"{len(the_plan.files)} files", file=sys.stderr)  # fmt: skip
    init = (seed, events, the_plan.lookalike_pool, the_plan.lookalike_weights)
    written = 0
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers, _init_worker, init) as pool:
            for item in pool.imap(render_file, the_plan.files, chunksize=16):
                written += _write(work, item)
    else:
        _init_worker(*init)
        for spec in the_plan.files:
            written += _write(work, render_file(spec))
    with (work / EXPECTED).open("w", encoding="utf-8") as handle:
        for rule_id, event_ids in the_plan.expected:
            handle.write(json.dumps({"rule_id": rule_id, "event_ids": list(event_ids)}) + "\n")
    manifest = {
        "fingerprint": mark,
        "seed": seed,
        **the_plan.counts,
        "files": len(the_plan.files),
        "gzip_bytes": written,
        "start": START.strftime(TIME_FORMAT),
        "hours": the_plan.windows * WINDOW_S / 3600,
        "accounts": list(ACCOUNT_IDS),
        "regions": list(REGION_NAMES),
        "generation_s": round(time.perf_counter() - started, 1),
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(work, folder)
    return Corpus(folder, manifest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--out", type=Path, help="the corpus folder (default: a folder in the temp dir)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.gettempdir()) / f"snaptrail-corpus-{args.events}"
    try:
        corpus = ensure(out, args.events, args.workers, args.seed, log=True)
    except CorpusError as error:
        print(f"trail_corpus: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"folder": str(corpus.folder), **corpus.manifest}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
