"""Which checkers can run here, and how to install the ones that cannot.

Every target's parser and engine (`snaptrail.verify.harness.HARNESSES`) needs a runtime: DuckDB is a
dependency of snaptrail and always there; the others are optional (a JDK and Lucene's jars, Python
packages from `snaptrail[verify]`, node and an npm package). `snaptrail test` probes each one once, by
starting it, and names a missing one once with its install command: a check that could not run is
never counted as passed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snaptrail.verify import kusto_checker, lucene_checker

PIP_VERIFY = "pip install 'snaptrail[verify]'"


@dataclass(frozen=True)
class Runtime:
    key: str
    name: str  # what it is, in words
    short: str  # what summary lines call it
    install: str  # the command that installs it
    probe: Callable[[Path | None], str | None]  # None: it runs here; else why not


@dataclass(frozen=True)
class Needs:
    """The runtimes one target's parser and engine need (None: there is no such checker at all)."""

    parse: str | None
    execute: str | None


TARGET_NEEDS: dict[str, Needs] = {
    "duckdb": Needs("duckdb", "duckdb"),
    "elastic-lucene": Needs("lucene", "lucene"),
    "elastic-eql": Needs("eql", "eql"),
    "elastic-esql": Needs("esql", None),  # no ES|QL engine exists outside Elasticsearch
    "sentinel": Needs("kusto", "duckdb-kql"),
    "splunk": Needs(None, None),  # no SPL parser or engine exists outside Splunk
}


def _module(name: str, package: str) -> Callable[[Path | None], str | None]:
    def probe(_: Path | None) -> str | None:
        try:
            importlib.import_module(name)
        except ImportError as error:
            return f"Python package {package} is not installed ({error})"
        return None

    return probe


def _lucene(_: Path | None) -> str | None:
    try:
        lucene_checker.ensure_compiled()  # finds java, javac and the jars, and compiles the runner once
    except RuntimeError as error:
        return str(error)
    return None


def _kusto(directory: Path | None) -> str | None:
    problem = kusto_checker.installed_problem(directory)
    if problem is not None:
        return problem
    from snaptrail.verify.harness import kusto

    try:  # started, not only found: a too old node or a broken package fails here, once
        kusto(directory).check("AWSCloudTrail | take 1")
    except RuntimeError as error:
        return str(error)
    return None


def _esql(_: Path | None) -> str | None:
    try:
        from esql import ParserConfig, Schema  # noqa: F401  (what the harness uses)
    except ImportError as error:
        return f"Python package detection-rules-esql-py is not installed ({error})"
    return None


def _esql_install() -> str:
    if sys.version_info >= (3, 12):
        return PIP_VERIFY
    # It declares Python >= 3.12 but runs on 3.11; its one dependency comes with snaptrail[verify].
    return (
        f"{PIP_VERIFY} && pip install --no-deps --ignore-requires-python detection-rules-esql-py "
        "(it declares Python >= 3.12 and runs on 3.11)"
    )


def _always(_: Path | None) -> str | None:
    return None


RUNTIMES: dict[str, Runtime] = {
    runtime.key: runtime
    for runtime in (
        Runtime("duckdb", "DuckDB", "DuckDB", "pip install snaptrail", _always),
        Runtime(
            "lucene",
            "Apache Lucene 8 under Java (java, javac, liblucene8-java)",
            "Lucene (Java)",
            lucene_checker.INSTALL_HINT,
            _lucene,
        ),
        Runtime("eql", "Elastic's eql (Python package eql)", "eql", PIP_VERIFY, _module("eql", "eql")),
        Runtime(
            "duckdb-kql",
            "duckdb-kql (Python package)",
            "duckdb-kql",
            PIP_VERIFY,
            _module("duckdb_kql", "duckdb-kql"),
        ),
        Runtime(
            "kusto",
            "Microsoft's Kusto.Language under node (npm @kusto/language-service-next)",
            "Kusto.Language (node)",
            "snaptrail test --install-checkers (needs node and npm, e.g. apt-get install nodejs npm)",
            _kusto,
        ),
        Runtime(
            "esql",
            "Elastic's ES|QL analyzer (Python package detection-rules-esql-py)",
            "ES|QL analyzer",
            _esql_install(),
            _esql,
        ),
    )
}


def missing(keys: set[str], kusto_dir: Path | None = None) -> dict[str, str]:
    """key -> why it cannot run here, for each of `keys` that cannot. Probed on every call (each probe
    is cheap once its runtime is warm: the Lucene runner is compiled once, node started once), so a
    changed PATH or a fresh install is seen."""
    found = {key: RUNTIMES[key].probe(kusto_dir) for key in sorted(keys)}
    return {key: why for key, why in found.items() if why is not None}
