"""Moved to `snaptrail.verify.kusto_checker` (shipped with snaptrail for `snaptrail test`). This name
stays for the test modules that still import it from here (tests/test_package_sentinel.py)."""

from snaptrail.verify.kusto_checker import DEFAULT_SCHEMA, KqlDiagnostic, KustoChecker

__all__ = ["DEFAULT_SCHEMA", "KqlDiagnostic", "KustoChecker"]
