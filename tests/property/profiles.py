"""Hypothesis profiles of the property suite, chosen with the HYPOTHESIS_PROFILE environment variable.

- `ci` (the default, what `pytest` and `make test` run): derandomized, so every run draws the same
  examples; a few small batches per target; no shrinking, since each shrink step re-runs real
  engines (the failure report lists every failing case of the batch instead).
- `long` (`make property-long`): at least 10,000 generated rules per target (batches of 4 to 8
  cases x 2,500 examples), with shrinking; random unless HYPOTHESIS_SEED is set.

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
    max_examples=2_500,
    database=None,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
)
PROFILES = {"ci": Profile("ci", 1, 4), "long": Profile("long", 4, 8)}

NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if NAME not in PROFILES:
    raise SystemExit(f"HYPOTHESIS_PROFILE={NAME!r}: choose one of {', '.join(PROFILES)}")
PROFILE = PROFILES[NAME]
SETTINGS = settings.get_profile(NAME)
