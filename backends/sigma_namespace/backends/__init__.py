"""sigma-cli discovers backends in the `sigma.backends` namespace; snaptrail's are listed here."""

from snaptrail.backends import TARGETS

backends = {target.backend.identifier: target.backend for target in TARGETS.values()}  # type: ignore[attr-defined]
