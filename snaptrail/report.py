"""`snaptrail scan --format html`: one self-contained page a responder reads and passes on.

Alerts by level, each chain drawn as a timeline of its steps (who, what, when, which resource),
the filters that were off and every input that could not be read. Rendered with the packagers'
one Jinja2 environment (snaptrail.build.render), from build/templates/report/scan.html.
"""

from __future__ import annotations

from snaptrail import __version__
from snaptrail.build.render import render
from snaptrail.corpus import LEVELS
from snaptrail.scan import ScanResult


def scan_html(result: ScanResult, rules: int) -> str:
    levels = list(reversed(LEVELS))  # critical first
    by_level = {level: [a for a in result.alerts if a.level == level] for level in levels}
    return render(
        "report/scan.html",
        version=__version__,
        rules=rules,
        read=result.read,
        alerts=result.alerts,
        levels=levels,
        by_level=by_level,
        chains=sorted(
            (alert for alert in result.alerts if len(alert.event_ids) > 1),
            key=lambda alert: (-LEVELS.index(alert.level), alert.time, alert.title),
        ),
        filters_off=[state for state in result.filters if not state.active],
        failed_rules=result.failed_rules,
    )
