"""What every packager reads: the rules' metadata, each rule's compiled query per target, and the
configuration, computed once per build (rules -> pySigma -> per-target query -> artifact)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from sigma.correlations import SigmaCorrelationTimespan

from snaptrail import __version__
from snaptrail.backends import TARGETS
from snaptrail.config import Config
from snaptrail.convert import Conversion, convert, rule_files
from snaptrail.lint import attack_data

LEVEL_ORDER = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Technique:
    id: str  # T1537, T1578.001
    name: str
    tactics: tuple[str, ...]  # ATT&CK tactic shortnames, e.g. ("exfiltration",)

    @property
    def url(self) -> str:
        return "https://attack.mitre.org/techniques/" + self.id.replace(".", "/") + "/"


@dataclass(frozen=True)
class Tactic:
    shortname: str
    id: str  # TA0010
    name: str

    @property
    def url(self) -> str:
        return f"https://attack.mitre.org/tactics/{self.id}/"


@dataclass(frozen=True)
class RuleInfo:
    id: str
    title: str
    name: str  # file stem: stable, readable identifier for files and saved searches
    family: str  # folder under sigma/rules
    path: str  # relative to the repository
    level: str
    status: str
    description: str
    triage: str
    falsepositives: tuple[str, ...]
    references: tuple[str, ...]
    author: str
    date: str
    tags: tuple[str, ...]
    techniques: tuple[Technique, ...]
    tactics: tuple[Tactic, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def level_rank(self) -> int:
        return LEVEL_ORDER.index(self.level)

    @property
    def is_chain(self) -> bool:
        return "correlation" in self.raw

    @property
    def window_seconds(self) -> int | None:
        """A chain's correlation timespan in seconds (None for single-event rules)."""
        if not self.is_chain:
            return None
        return int(SigmaCorrelationTimespan(str(self.raw["correlation"]["timespan"])).seconds)


def _rule_info(path: Path, root: Path) -> RuleInfo:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    attack = attack_data()
    tags = tuple(str(tag) for tag in data.get("tags") or [])
    techniques = []
    for tag in tags:
        name = tag.removeprefix("attack.").upper()
        if tag.startswith("attack.t") and name in attack["techniques"]:
            known = attack["techniques"][name]
            techniques.append(Technique(name, known["name"], tuple(known["tactics"])))
    tactic_names = [
        tag.removeprefix("attack.") for tag in tags if tag.removeprefix("attack.") in attack["tactics"]
    ]
    tactics = tuple(
        Tactic(short, attack["tactics"][short]["id"], attack["tactics"][short]["name"])
        for short in tactic_names
    )
    try:
        relative = path.resolve().relative_to(root.resolve().parent.parent)
    except ValueError:
        relative = path
    return RuleInfo(
        id=str(data["id"]),
        title=str(data["title"]),
        name=path.stem,
        family=path.parent.name,
        path=str(relative),
        level=str(data.get("level", "")),
        status=str(data.get("status", "")),
        description=str(data.get("description", "")).strip(),
        triage=str(data.get("triage", "")).strip(),
        falsepositives=tuple(str(f) for f in data.get("falsepositives") or []),
        references=tuple(str(r) for r in data.get("references") or []),
        author=str(data.get("author", "")),
        date=str(data.get("date", "")),
        tags=tags,
        techniques=tuple(techniques),
        tactics=tactics,
        raw=data,
    )


@dataclass
class BuildContext:
    rule_paths: Sequence[Path]
    filter_paths: Sequence[Path]
    config: Config
    version: str = __version__

    @cached_property
    def rules(self) -> list[RuleInfo]:
        """Every detection: single-event rules and chains (Sigma correlation rules), by family then title."""
        infos = []
        for path in rule_files(self.rule_paths):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                infos.append(_rule_info(path, self.rule_paths[0]))
        return sorted(infos, key=lambda r: (r.family, r.title))

    @cached_property
    def conversions(self) -> dict[str, dict[str, Conversion]]:
        """target -> rule id -> conversion (a query, or the reason the target cannot express it)."""
        return {
            target: {c.rule_id: c for c in convert(self.rule_paths, target, self.config, self.filter_paths)}
            for target in TARGETS
        }

    def query(self, target: str, rule_id: str) -> str | None:
        conversion = self.conversions[target].get(rule_id)
        return str(conversion.query) if conversion is not None and conversion.ok else None

    def errors(self) -> list[Conversion]:
        return [
            c
            for by_rule in self.conversions.values()
            for c in by_rule.values()
            if not c.ok and not c.limitation
        ]

    def provenance(self) -> dict[str, Any]:
        """What shaped the build; every artifact carries it so an admin can tell what they imported."""
        return {"snaptrail_version": self.version, **self.config.describe()}
