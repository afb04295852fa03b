"""YAML as snaptrail reads it: PyYAML's safe loader, in its C form (libyaml) where PyYAML has it.

Rules, filters, fixtures and the field registry are read on every command; the C loader reads them
several times faster than the pure-Python one, with the same safe types and the same errors.
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=SAFE_LOADER)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=SAFE_LOADER))
