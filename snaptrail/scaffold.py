"""`snaptrail init DIR`: a content repository of a team's own, ready for `check`, `test` and `build`.

The files are package data under `snaptrail/starter/`: one worked example rule for an event the
shipped registry does not list (so the registry overlay is shown doing its job), its positive and
look-alike records, `snaptrail.yml`, and CI workflows for GitHub Actions and GitLab CI.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

# Where a scaffold file lands when its place in the package is not its place in the repository
# (package data cannot hold dot-folders portably).
RENAMED = {
    "ci/github-actions.yml": ".github/workflows/snaptrail.yml",
    "ci/gitlab-ci.yml": ".gitlab-ci.yml",
}
SKIPPED_SUFFIXES = (".py", ".pyc")


class ScaffoldError(Exception):
    pass


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                found.extend(_files(entry, name + "/"))
        elif not entry.name.endswith(SKIPPED_SUFFIXES):
            found.append((name, entry))
    return found


def scaffold_files() -> list[tuple[str, bytes]]:
    """(path in the new repository, content) for every scaffold file."""
    root = resources.files("snaptrail").joinpath("starter")
    return [(RENAMED.get(name, name), entry.read_bytes()) for name, entry in _files(root)]


def init(target: Path) -> list[Path]:
    """Write the scaffold into `target` (created; an existing non-empty folder is refused)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target}: exists and is not an empty folder; choose a new one")
    written = []
    for name, content in scaffold_files():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written
