"""`tests/expected_limits.yml`, read once: what each target cannot express and what each local engine
cannot run, by rule name (file stem)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LIMITS_FILE = Path(__file__).resolve().parent / "expected_limits.yml"


@cache
def _limits() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def expected_unsupported(target: str) -> frozenset[str]:
    return frozenset(_limits()["unsupported"].get(target, []))


def not_executed(target: str) -> frozenset[str]:
    return frozenset(_limits()["not_executed"].get(target, []))
