"""Where snaptrail keeps what it installs or builds for the checkers (the Kusto npm package, the
compiled Lucene runner): never inside the installed Python package, which may be read-only and is
replaced on every upgrade."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "SNAPTRAIL_CACHE_DIR"


def cache_dir() -> Path:
    """$SNAPTRAIL_CACHE_DIR, else $XDG_CACHE_HOME/snaptrail, else ~/.cache/snaptrail (read on every
    call, so a test or a CI job can point it elsewhere)."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "snaptrail"
