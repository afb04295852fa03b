"""dist/queries/<target>/<rule>.<ext>: one compiled query per rule per target, plus a manifest.

A target that cannot express a rule exactly (TargetLimitation) is listed in
dist/queries/UNSUPPORTED.md and in the manifest; any other conversion error fails the build.
"""

from __future__ import annotations

import json
from pathlib import Path

from snaptrail.backends import TARGETS
from snaptrail.build.context import BuildContext
from snaptrail.build.kibana import kibana_rules


def write_queries(context: BuildContext, out: Path) -> list[Path]:
    root = out / "queries"
    written: list[Path] = []
    manifest: dict[str, dict[str, dict[str, str]]] = {}
    unsupported: list[str] = []
    for rule in context.rules:
        entry = manifest.setdefault(rule.id, {"name": rule.name, "title": rule.title})  # type: ignore[dict-item]
        for target, spec in TARGETS.items():
            conversion = context.conversions[target][rule.id]
            if conversion.ok:
                path = root / target / f"{rule.name}.{spec.extension}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(str(conversion.query) + "\n", encoding="utf-8")
                written.append(path)
                entry[target] = {"file": str(path.relative_to(out))}
            elif conversion.limitation:
                entry[target] = {"unsupported": str(conversion.error)}
                unsupported.append(f"- `{rule.name}` on **{target}**: {conversion.error}")
    lines = ["# Rules a target cannot express exactly", ""]
    lines += unsupported or ["None: every rule compiles for every target."]
    lines += ["", "## Missing on Elastic as a whole", ""]
    lines += [
        "The Kibana package (elastic/) writes each rule in the first of `elastic.languages` that",
        "expresses it, and a value_count chain as a threshold rule; a rule refused above by one Elastic",
        "language is missing on Elastic only if it is listed here.",
        "",
    ]
    _, left_out = kibana_rules(context)
    lines += [f"- `{rule.name}`: {reason}" for rule, reason in left_out] or [
        "None: the Kibana package carries every rule, chains included."
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "UNSUPPORTED.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = {"provenance": context.provenance(), "rules": manifest}
    (root / "manifest.json").write_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return [*written, root / "UNSUPPORTED.md", root / "manifest.json"]
