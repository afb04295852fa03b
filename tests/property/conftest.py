"""The property suite's outcome table: per target, how many generated and regression cases ended in
each verdict (tests/property/runner.py), printed at the end of any run that includes the suite."""

from __future__ import annotations

import pytest

from property.profiles import PROFILE
from property.runner import ALLOWED, BATCHES, FAILURES, TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    kinds = [*ALLOWED, *FAILURES]
    header = ["target", "cases", "batches", *kinds]
    rows = [
        [target, str(sum(counts.values())), str(BATCHES[target]), *(str(counts[k]) for k in kinds)]
        for target, counts in sorted(TALLY.items())
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    title = f"property suite outcomes (profile {PROFILE.name}; cases include shrink re-runs)"
    terminalreporter.section(title)
    for row in [header, *rows]:
        cells = (cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        terminalreporter.write_line(" | ".join(cells))
