"""Golden SPL: Splunk is the one target with no parser or engine outside Splunk, so every compiled
search is pinned whole in tests/golden/splunk/<rule>.spl and any change is reviewed by a person.

After an intended change: `SNAPTRAIL_UPDATE_GOLDEN=1 .venv/bin/pytest tests -k spl`, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "splunk"


def assert_golden_spl(name: str, query: str) -> None:
    golden = GOLDEN / f"{name}.spl"
    if os.environ.get("SNAPTRAIL_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(query + "\n", encoding="utf-8")
    assert golden.is_file(), f"no golden search {golden}; run with SNAPTRAIL_UPDATE_GOLDEN=1 and review it"
    assert query + "\n" == golden.read_text(encoding="utf-8"), f"the search of {name} changed from {golden}"
