"""MITRE ATT&CK Enterprise, pinned (snaptrail/data/attack_enterprise.json), and the one parser of a
rule's ATT&CK tags into techniques and tactics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")
# attack.g0001 (group), attack.s0001 (software): ATT&CK tags that are neither technique nor tactic.
OTHER_ID_TAG = re.compile(r"^attack\.[gs]\d{4}$")


@cache
def attack_data() -> dict[str, Any]:
    text = resources.files("snaptrail.data").joinpath("attack_enterprise.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


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
class AttackTags:
    """A rule's ATT&CK tags: what the pinned table knows, and what it does not."""

    techniques: tuple[Technique, ...]
    tactics: tuple[Tactic, ...]
    unknown_techniques: tuple[str, ...]  # e.g. "T9999"
    unknown_tactics: tuple[str, ...]  # e.g. "exfiltraton"

    def untagged_tactics(self, technique: Technique) -> bool:
        """True when none of the technique's tactics is tagged on the rule."""
        return not {t.shortname for t in self.tactics} & set(technique.tactics)


def parse_attack_tags(tags: Iterable[str]) -> AttackTags:
    attack = attack_data()
    techniques, tactics, unknown_techniques, unknown_tactics = [], [], [], []
    for tag in tags:
        if not tag.startswith("attack."):
            continue
        technique = TECHNIQUE_TAG.match(tag)
        if technique:
            technique_id = technique[1].upper()
            known = attack["techniques"].get(technique_id)
            if known is None:
                unknown_techniques.append(technique_id)
            else:
                techniques.append(Technique(technique_id, known["name"], tuple(known["tactics"])))
            continue
        if OTHER_ID_TAG.match(tag):
            continue
        short = tag.removeprefix("attack.")
        if short in attack["tactics"]:
            entry = attack["tactics"][short]
            tactics.append(Tactic(short, entry["id"], entry["name"]))
        else:
            unknown_tactics.append(short)
    return AttackTags(tuple(techniques), tuple(tactics), tuple(unknown_techniques), tuple(unknown_tactics))
