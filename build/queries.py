"""dist/queries/<target>/<rule>.<ext>: one compiled query per rule per target, plus a manifest.

Deterministic: files are written in sorted order with no timestamps, so the same sources give
byte-identical output. A target that cannot express a rule exactly (TargetLimitation) is listed
in dist/queries/UNSUPPORTED.md and the manifest; any other conversion error fails the build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from snaptrail import __version__
from snaptrail.backends import TARGETS
from snaptrail.config import Config
from snaptrail.convert import Conversion, convert


@dataclass
class QueryBuild:
    written: list[Path] = field(default_factory=list)
    limitations: list[Conversion] = field(default_factory=list)
    errors: list[Conversion] = field(default_factory=list)


def build_queries(
    rule_paths: Sequence[Path], out: Path, config: Config, filter_paths: Sequence[Path] = ()
) -> QueryBuild:
    result = QueryBuild()
    manifest: dict[str, dict[str, dict[str, str]]] = {}
    root = out / "queries"
    for name, target in TARGETS.items():
        for conversion in sorted(convert(rule_paths, name, config, filter_paths), key=lambda c: c.source):
            entry = manifest.setdefault(conversion.rule_id, {})
            if conversion.ok:
                path = root / name / f"{Path(conversion.source).stem}.{target.extension}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(str(conversion.query) + "\n", encoding="utf-8")
                result.written.append(path)
                entry[name] = {"file": str(path.relative_to(out))}
            elif conversion.limitation:
                result.limitations.append(conversion)
                entry[name] = {"unsupported": str(conversion.error)}
            else:
                result.errors.append(conversion)
    lines = ["# Rules a target cannot express exactly", ""]
    if not result.limitations:
        lines.append("None: every rule compiles for every target.")
    for conversion in sorted(result.limitations, key=lambda c: (c.source, c.target)):
        lines.append(f"- `{Path(conversion.source).stem}` on **{conversion.target}**: {conversion.error}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "UNSUPPORTED.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = {
        "snaptrail_version": __version__,
        "configuration": config.describe(),
        "rules": dict(sorted(manifest.items())),
    }
    (root / "manifest.json").write_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return result
