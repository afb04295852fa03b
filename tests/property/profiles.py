"""Hypothesis profiles of the property suite, chosen with the HYPOTHESIS_PROFILE environment variable.

- `ci` (the default, what `pytest` and `make test` run): derandomized, so every run draws the same
  examples; a few small batches per target; no shrinking, since each shrink step re-runs real
  engines (the failure report lists every failing case of the batch instead).
- `long` (`make property-long`): a survey of at least 10,000 generated rules per target (batches of
  4 to 8 cases x 2,500 examples; SNAPTRAIL_PROPERTY_EXAMPLES sets another example count, and the
  outcome table states what really ran). A failing case does not stop the run: every one is
  collected, so the table counts all outcomes; the test fails at the end, listing them.
- `shrink`: one case per example, stopping at the first failure and shrinking it to a minimal
  rule and record set, the form kept in regressions.yml (run it with `-k` on one target).

Neither writes an example database into the repository (database=None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings


@dataclass(frozen=True)
class Profile:
    name: str
    batch_min: int
    batch_max: int
    survey: bool  # collect failures and go on, instead of stopping at the first


_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                 HealthCheck.filter_too_much]  # fmt: skip
settings.register_profile(
    "ci",
    max_examples=6,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=False,
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("SNAPTRAIL_PROPERTY_EXAMPLES", "2500")),
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "shrink",
    max_examples=int(os.environ.get("SNAPTRAIL_PROPERTY_EXAMPLES", "500")),
    database=None,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
)
PROFILES = {
    "ci": Profile("ci", 1, 4, survey=False),
    "long": Profile("long", 4, 8, survey=True),
    "shrink": Profile("shrink", 1, 1, survey=False),
}

NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if NAME not in PROFILES:
    raise SystemExit(f"HYPOTHESIS_PROFILE={NAME!r}: choose one of {', '.join(PROFILES)}")
PROFILE = PROFILES[NAME]
SETTINGS = settings.get_profile(NAME)
