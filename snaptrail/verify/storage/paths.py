"""Reading a dotted path out of a record or a stored document: the step every storage model shares."""

from __future__ import annotations

from typing import Any


def value_at(document: dict[str, Any], dotted: str) -> Any:
    """The value at `a.b.c`, or None where a step is missing or not an object."""
    node: Any = document
    for name in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node
