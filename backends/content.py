"""Where the content snaptrail's backends apply by default comes from: the Sigma filters and the
default snaptrail.yml (its allowlists).

A backend used through sigma-cli (`sigma convert -t snaptrail_x`) has no repository around it, so it
finds the shipped content itself: as package data of the installed `snaptrail` package when it is
installed so, else in the repository checkout this module sits in (`backends/` is one level below
the repository root; an editable install and the tests run from there).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sigma.exceptions import SigmaConfigurationError

# The repository's paths; package data keeps them, under PACKAGE_DATA inside the `snaptrail` package.
FILTERS = Path("sigma/filters")
CONFIG = Path("snaptrail.yml")
PACKAGE_DATA = Path()  # the folder of the `snaptrail` package the content is installed in ("" = its root)


class ShippedContentMissing(SigmaConfigurationError):
    """The installation has neither the package data nor a checkout around it."""


def _candidates(relative: Path) -> list[Path]:
    package = Path(str(resources.files("snaptrail"))) / PACKAGE_DATA / relative
    checkout = Path(__file__).resolve().parents[1] / relative
    return list(dict.fromkeys([package, checkout]))  # one entry when installed as a wheel


def shipped_filters_path() -> Path:
    """The folder of the Sigma filters snaptrail ships (`sigma/filters` of the repository)."""
    candidates = _candidates(FILTERS)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ShippedContentMissing(
        f"snaptrail's shipped Sigma filters are not installed (looked in {', '.join(map(str, candidates))}); "
        "convert without them with -O filters=false"
    )


def shipped_config_path() -> Path | None:
    """The snaptrail.yml snaptrail ships: the allowlists its filters are applied with by default.
    None when there is none; the settings are then snaptrail's defaults (`Config()`), as for
    `snaptrail build` without a snaptrail.yml."""
    return next((candidate for candidate in _candidates(CONFIG) if candidate.is_file()), None)
