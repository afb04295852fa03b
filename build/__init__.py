"""`snaptrail build`: every artifact into dist/, from one BuildContext.

Each packager is `write_<x>(context, out) -> list[Path]`; all of them read the same compiled
queries, so an artifact never compiles a rule again on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from snaptrail.build.context import BuildContext

Packager = Callable[[BuildContext, Path], list[Path]]


def packagers() -> list[tuple[str, Packager]]:
    from snaptrail.build.attack import write_attack
    from snaptrail.build.docs import write_docs
    from snaptrail.build.kibana import write_kibana
    from snaptrail.build.queries import write_queries
    from snaptrail.build.sentinel import write_sentinel
    from snaptrail.build.splunk_app import write_splunk

    return [
        ("queries", write_queries),
        ("attack", write_attack),
        ("splunk", write_splunk),
        ("elastic", write_kibana),
        ("sentinel", write_sentinel),
        ("docs", write_docs),
    ]


def build_all(context: BuildContext, out: Path) -> dict[str, list[Path]]:
    """Write every artifact. Each packager's folder is emptied first, so a removed rule leaves
    nothing behind and two builds of the same sources are byte-identical."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, write in packagers():
        shutil.rmtree(out / name, ignore_errors=True)
        written[name] = write(context, out)
    return written
