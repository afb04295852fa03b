"""`snaptrail build`: every artifact into dist/, from one BuildContext.

Each packager is `write_<x>(context, out) -> list[Path]`; all of them read the same compiled
queries, so an artifact never compiles a rule again on its own.
"""

from __future__ import annotations

import os
import shutil
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
    """Write every artifact into a fresh folder beside `out`, then put that folder in place of `out`.

    `out` is replaced whole and only when every packager succeeded: a build that fails half way (a
    packager refusing a rule, a bug) leaves the previous `out` as it was, never a mix of two builds;
    and a fresh folder means a removed rule leaves nothing behind, so two builds of the same sources
    are byte-identical. The folder is a sibling so that the final rename stays on one file system."""
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.building-{os.getpid()}")
    previous = out.with_name(f".{out.name}.previous-{os.getpid()}")
    for stale in (staging, previous):  # left by a process of the same id that was killed
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir()  # not mkdtemp: the folder gets the user's usual permissions, not 0700
    try:
        written = {name: write(context, staging) for name, write in packagers()}
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        out.rename(previous)
        try:
            staging.rename(out)
        except OSError:
            previous.rename(out)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(previous)
    else:
        staging.rename(out)
    return {name: [out / path.relative_to(staging) for path in paths] for name, paths in written.items()}
