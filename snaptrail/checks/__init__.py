"""`snaptrail check`: pySigma validation of the rule corpus, offline, with snaptrail's own checks as
pySigma validator plugins.

* `validators`: snaptrail's checks as `SigmaRuleValidator` subclasses. They read the parsed rule,
  never its YAML, and are registered in the `sigma.validators.snaptrail` namespace portion, so
  `sigma check` runs them too.
* `pysigma`: the validator set (pySigma core, SigmaHQ, snaptrail) and the pinned offline data.
* `run`: one loaded corpus plus the declared fixtures -> one `Issue` per defect.
* `report`: `Issue`, JSON and JUnit output.

This package module imports nothing: sigma-cli imports `snaptrail.checks.validators` while it
discovers plugins, and must not pay for the backends the corpus loader pulls in.
"""
