"""The CloudTrail paths snaptrail knows, and which of their steps are arrays.

The folder `registry/` beside this module is the data (`_envelope.yml` plus one file per
service); this module gives it a type. Every target
asks the registry how a Sigma field name (CloudTrail's own dotted path, e.g.
``requestParameters.createVolumePermission.add.items.userId``) is shaped, so array
knowledge lives in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from snaptrail import yaml_text


class UnknownFieldError(KeyError):
    """A Sigma field that is not a CloudTrail path snaptrail knows."""

    def __init__(self, field_name: str, hint: str = "") -> None:
        super().__init__(field_name)
        self.field_name = field_name
        self.hint = hint

    def __str__(self) -> str:
        message = f"'{self.field_name}' is not a CloudTrail field in snaptrail's registry"
        return f"{message}; {self.hint}" if self.hint else message


@dataclass(frozen=True)
class Step:
    name: str
    array: bool


@dataclass(frozen=True)
class CloudTrailPath:
    """A dotted CloudTrail path whose steps know whether they hold a JSON array."""

    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> CloudTrailPath:
        """Parse registry notation: ``a.b[].c`` (``[]`` marks an array step)."""
        steps = []
        for part in text.split("."):
            array = part.endswith("[]")
            name = part[:-2] if array else part
            if not name:
                raise ValueError(f"empty step in CloudTrail path '{text}'")
            steps.append(Step(name, array))
        return cls(tuple(steps))

    @property
    def sigma_name(self) -> str:
        """The name a Sigma rule uses: the path without array markers."""
        return ".".join(step.name for step in self.steps)

    @property
    def notation(self) -> str:
        return ".".join(step.name + ("[]" if step.array else "") for step in self.steps)

    @property
    def root(self) -> str:
        return self.steps[0].name

    @property
    def has_array(self) -> bool:
        return any(step.array for step in self.steps)

    def split_at_arrays(self) -> list[tuple[Step, ...]]:
        """Segments ending at each array step; the last segment is the leaf below the last array.

        ``a.b[].c.d[].e`` -> ``[(a, b[]), (c, d[]), (e,)]``; a path without arrays is one segment.
        """
        segments: list[tuple[Step, ...]] = []
        current: list[Step] = []
        for step in self.steps:
            current.append(step)
            if step.array:
                segments.append(tuple(current))
                current = []
        segments.append(tuple(current))
        return segments

    def values_in(self, record: Any) -> list[Any]:
        """Every value this path reaches in a raw record (any element of each array step)."""
        nodes = [record]
        for step in self.steps:
            reached = []
            for node in nodes:
                if isinstance(node, dict) and step.name in node:
                    value = node[step.name]
                    if step.array and isinstance(value, list):
                        reached.extend(value)
                    elif not step.array:
                        reached.append(value)
            nodes = reached
        return nodes


@dataclass(frozen=True)
class EventSpec:
    event_source: str
    event_name: str
    evidence: str
    fields: dict[str, CloudTrailPath]
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _flatten(items: Iterable[Any]) -> Iterator[str]:
    # YAML anchors for shared field groups nest a list inside the list.
    for item in items:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield str(item)


class Registry:
    """Known CloudTrail paths: the envelope every record has, and the fields of each event."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.envelope: dict[str, CloudTrailPath] = {}
        for text in _flatten(data["envelope"]):
            path = CloudTrailPath.parse(text)
            self.envelope[path.sigma_name] = path
        self.envelope_values: dict[str, tuple[str, ...]] = {
            key: tuple(str(v) for v in values) for key, values in data.get("envelope_values", {}).items()
        }
        self.events: dict[tuple[str, str], EventSpec] = {}
        self._by_name: dict[str, CloudTrailPath] = dict(self.envelope)
        for event_source, events in data["events"].items():
            for event_name, spec in events.items():
                fields = {}
                for text in _flatten(spec["fields"]):
                    path = CloudTrailPath.parse(text)
                    fields[path.sigma_name] = path
                    self._remember(path, f"{event_source} {event_name}")
                values = {
                    CloudTrailPath.parse(key).sigma_name: tuple(str(v) for v in allowed)
                    for key, allowed in spec.get("values", {}).items()
                }
                self.events[(event_source, event_name)] = EventSpec(
                    event_source, event_name, spec["evidence"], fields, values
                )

    def _remember(self, path: CloudTrailPath, where: str) -> None:
        known = self._by_name.get(path.sigma_name)
        if known is not None and known != path:
            raise ValueError(
                f"registry: '{path.sigma_name}' is declared as '{known.notation}' elsewhere but as "
                f"'{path.notation}' in {where}; a path's array steps must agree everywhere"
            )
        self._by_name[path.sigma_name] = path

    def resolve(self, sigma_field: str) -> CloudTrailPath:
        """The path behind a Sigma field name, or UnknownFieldError."""
        path = self._by_name.get(sigma_field)
        if path is not None:
            return path
        if any(name.startswith(sigma_field + ".") for name in self._by_name):
            raise UnknownFieldError(
                sigma_field, "it is an object, not a value; name one of its leaves instead"
            )
        raise UnknownFieldError(
            sigma_field,
            "declare it under its event in a registry overlay of your content repository "
            "(snaptrail.yml content.registry; `snaptrail init` makes one; array steps marked [])",
        )

    def events_named(self, event_name: str) -> list[EventSpec]:
        return [spec for (_, name), spec in sorted(self.events.items()) if name == event_name]


class RegistryError(ValueError):
    """A registry or overlay file that cannot be used; the message names the file."""


def merge_registry_documents(
    documents: dict[str, dict[str, Any]], overlays: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One registry from the per-service files; an event defined twice among them is an error.
    Overlays (a team's own files) may add events and add fields or values to shipped events."""
    merged: dict[str, Any] = {"envelope": [], "envelope_values": {}, "events": {}}
    for layer, extend in ((documents, False), (overlays or {}, True)):
        for name, document in sorted(layer.items()):
            # Keys starting with `_` hold YAML anchors for shared field groups.
            keys = {k for k in (document if isinstance(document, dict) else {}) if not k.startswith("_")}
            if not isinstance(document, dict) or not keys <= {"envelope", "envelope_values", "events"}:
                raise RegistryError(f"{name}: a registry file maps envelope, envelope_values and events")
            merged["envelope"].extend(document.get("envelope") or [])
            merged["envelope_values"].update(document.get("envelope_values") or {})
            for event_source, events in (document.get("events") or {}).items():
                target = merged["events"].setdefault(event_source, {})
                for event_name, spec in (events or {}).items():
                    if not isinstance(spec, dict) or not isinstance(spec.get("fields", []), list):
                        raise RegistryError(f"{name}: {event_source} {event_name} needs a list 'fields'")
                    if event_name not in target:
                        target[event_name] = {"evidence": "api", "fields": [], **spec}
                    elif not extend:
                        raise RegistryError(f"registry/{name}: {event_source} {event_name} is defined twice")
                    else:
                        known = target[event_name]
                        target[event_name] = {
                            **known,
                            "fields": [*known["fields"], *spec.get("fields", [])],
                            "values": {**known.get("values", {}), **spec.get("values", {})},
                        }
    return merged


_overlay_paths: tuple[Path, ...] = ()


def use_overlays(paths: Sequence[Path]) -> None:
    """Make every later `registry()` include these overlay files (a content repository's own events
    and fields), checked for consistency with the shipped registry like any registry file."""
    global _overlay_paths
    paths = tuple(Path(p) for p in paths)
    if paths != _overlay_paths:
        _overlay_paths = paths
        registry.cache_clear()


def overlay_files() -> list[Path]:
    """The overlay files `registry()` reads, in the order it reads them."""
    return [
        file for path in _overlay_paths for file in (sorted(path.rglob("*.yml")) if path.is_dir() else [path])
    ]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml_text.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RegistryError(
            f"{path}: cannot read registry overlay ({' '.join(str(error).split())})"
        ) from None


@functools.cache
def registry() -> Registry:
    folder = resources.files("snaptrail.cloudtrail").joinpath("registry")
    documents = {
        entry.name: yaml_text.load(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".yml")
    }
    overlays = {str(file): _read_yaml(file) for file in overlay_files()}
    try:
        return Registry(merge_registry_documents(documents, overlays))
    except RegistryError:
        raise
    except (ValueError, KeyError, TypeError) as error:
        where = ", ".join(map(str, _overlay_paths)) or "the shipped registry"
        raise RegistryError(f"{where}: {error}") from None


def load_json_data(name: str) -> Any:
    """One of the mapping files beside this module (elastic_fields.json, sentinel_table.json)."""
    import json

    return json.loads(resources.files("snaptrail.cloudtrail").joinpath(name).read_text(encoding="utf-8"))
