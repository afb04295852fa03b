"""What `snaptrail scan` runs, compiled once per content: the DuckDB queries, the filters' state and
the candidate names, kept between scans.

Loading and compiling the rules is a fixed cost of every scan (most of a small scan's time). The plan
is stored in snaptrail's cache folder (snaptrail.verify.cache.cache_dir) under a key that covers
every input of the compilation: the bytes of each rule, filter and registry overlay file, the
settings (snaptrail.yml as read), the source of snaptrail itself and the Python and pySigma
versions. Any change to one of them is another key, so a plan is never used for content it was not
compiled from; a plan that cannot be read (damaged, from another snaptrail) is compiled again, and
one that cannot be written leaves the scan as it was.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import snaptrail
import snaptrail.backends
from snaptrail.candidates import Candidates
from snaptrail.cloudtrail.registry import overlay_files
from snaptrail.config import Config
from snaptrail.corpus import Conversion, FilterState, rule_files
from snaptrail.verify.cache import cache_dir

PLAN_FOLDER = "scan-plans"
KEPT_PLANS = 16  # the most recently used plans kept; older ones are deleted when one is saved
_FORMAT = 1  # of the stored plan; a change makes older plans unreadable, so they are compiled again


@dataclass(frozen=True)
class ScanPlan:
    conversions: tuple[Conversion, ...]  # every rule and chain on the duckdb target
    filters: tuple[FilterState, ...]
    candidates: Candidates


# Folders of the installed package that hold content (keyed by their bytes when a scan uses them),
# not code.
_CONTENT_FOLDERS = frozenset({"shipped", "shipped_fixtures", "starter", "templates", "__pycache__"})


@functools.cache
def _code_digest() -> str:
    """snaptrail's code and data files as installed, the backends' included (an editable install
    maps snaptrail.backends to a folder of its own): each file's path, size and modification time,
    which every reinstall and every edit changes."""
    roots = {os.path.dirname(snaptrail.__file__), os.path.dirname(snaptrail.backends.__file__)}
    files: set[str] = set()
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if name not in _CONTENT_FOLDERS]
            files.update(os.path.realpath(os.path.join(folder, name)) for name in names
                         if name.endswith((".py", ".yml", ".json")))  # fmt: skip
    digest = hashlib.sha256()
    for path in sorted(files):
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def plan_key(rule_paths: Sequence[Path], filter_paths: Sequence[Path], config: Config | None) -> str:
    """The key of the plan for this content (RuleLoadError for a rule path that does not exist,
    as loading the rules would raise)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    try:
        pysigma = version("pysigma")
    except PackageNotFoundError:  # pragma: no cover - pySigma is a dependency
        pysigma = "?"
    add("format", str(_FORMAT).encode())
    add("python", sys.version.encode())
    add("pysigma", pysigma.encode())
    add("snaptrail", _code_digest().encode())
    for label, paths in (("rule", rule_files(rule_paths)), ("filter", rule_files(filter_paths))):
        for path in paths:
            add(label, str(path.resolve()).encode("utf-8", "surrogateescape"))
            add(label, path.read_bytes())
    for path in overlay_files():
        add("overlay", str(path.resolve()).encode("utf-8", "surrogateescape"))
        add("overlay", path.read_bytes())
    config = config if config is not None else Config()
    add("config", f"{config.path}\n{config.model_dump_json()}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _plan_file(key: str) -> Path:
    return cache_dir() / PLAN_FOLDER / f"{key}.pickle"


# What unpickling a damaged or foreign file raises.
_UNREADABLE = (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError)


def cached_plan(key: str) -> ScanPlan | None:
    """The stored plan of this key, or None (none stored, or not readable as one)."""
    try:
        with _plan_file(key).open("rb") as handle:
            plan = pickle.load(handle)  # the user's own cache folder, written by save_plan
    except _UNREADABLE:  # none yet, damaged or from another version: compiled again and replaced
        return None
    if not isinstance(plan, ScanPlan):
        return None
    try:
        os.utime(_plan_file(key))  # recently used: kept when older plans are deleted
    except OSError:
        pass
    return plan


def save_plan(key: str, plan: ScanPlan) -> None:
    """Store the plan (atomically: a reader sees the old file or the new one); a cache folder that
    cannot be written only costs the next scan its compilation."""
    target = _plan_file(key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            pickle.dump(plan, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, target)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    _prune(target.parent)


def _prune(folder: Path) -> None:
    """Delete all but the KEPT_PLANS most recently used plans: every change of content, settings or
    snaptrail makes a new one, and the old ones would only pile up."""
    try:
        plans = sorted(folder.glob("*.pickle"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
        for stale in plans[KEPT_PLANS:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
