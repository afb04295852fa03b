"""sigma-cli discovers pipelines in the `sigma.pipelines` namespace; snaptrail's are listed here."""

from snaptrail.backends import TARGETS

pipelines = {target.pipeline_id: target.pipeline for target in TARGETS.values()}
