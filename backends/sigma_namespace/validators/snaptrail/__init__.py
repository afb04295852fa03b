"""sigma-cli discovers validators in the `sigma.validators` namespace; snaptrail's are listed here.

`sigma check` then runs them with pySigma core's and SigmaHQ's. Enable or disable them by identifier
in a validation config (`sigma check -c validation.yml`), e.g. `validators: [all, -sigmahq_unknown_field]`
and `config: {snaptrail_fixtures: {root: tests/fixtures}}`.
"""

from snaptrail.checks.validators import validators

# Only the registry: pySigma would otherwise register every public name of this module.
__all__ = ["validators"]
