"""Offline Sentinel KQL checker: Microsoft's Kusto.Language parser and binder, run under node.

``KustoChecker`` starts one ``node kusto/kql_check.js SCHEMA`` process and sends it queries as JSON
lines; the process parses and binds each query against the AWSCloudTrail table built from
``snaptrail/cloudtrail/sentinel_table.json`` and answers with Kusto's diagnostics (syntax, binding,
analyzer warnings) plus our LITERAL_LHS lint (a comparison whose left operand is a literal).

The npm package (@kusto/language-service-next, pinned by the shipped ``kusto/package-lock.json``)
cannot be bundled into the Python package, so it lives in a folder of its own, ``kusto_dir()``:
$SNAPTRAIL_KUSTO_DIR, else ``<cache>/kusto`` (``snaptrail.verify.cache``). ``install`` puts it there
(``snaptrail test --install-checkers``); the repository's tests use ``tests/checkers/kusto``.

The checker never passes silently: a missing node or npm package, a wrong package version, a dead
process, a malformed or late answer all raise RuntimeError.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import snaptrail.cloudtrail
from snaptrail.verify.cache import cache_dir

CHECKER_DIR = Path(__file__).resolve().parent / "kusto"  # shipped: the script and the npm manifests
SCRIPT = CHECKER_DIR / "kql_check.js"
MANIFESTS = ("package.json", "package-lock.json")
PACKAGE = "@kusto/language-service-next"
DEFAULT_SCHEMA = Path(snaptrail.cloudtrail.__file__).resolve().parent / "sentinel_table.json"
ENV_KUSTO_DIR = "SNAPTRAIL_KUSTO_DIR"
QUERY_TIMEOUT_SECONDS = 60.0
INSTALL_TIMEOUT_SECONDS = 600


def kusto_dir() -> Path:
    """The folder whose node_modules holds the npm package: $SNAPTRAIL_KUSTO_DIR, else <cache>/kusto."""
    explicit = os.environ.get(ENV_KUSTO_DIR)
    return Path(explicit).resolve() if explicit else cache_dir() / "kusto"


def package_dir(directory: Path) -> Path:
    return directory / "node_modules" / "@kusto" / "language-service-next"


def required_version() -> str:
    """The version the shipped package.json pins (package-lock.json pins it and its integrity)."""
    manifest = json.loads((CHECKER_DIR / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"][PACKAGE])


def install_command(directory: Path) -> str:
    return (
        "`snaptrail test --install-checkers` (it copies snaptrail's package.json and package-lock.json "
        f"into {directory} and runs `npm ci --prefix {directory}`)"
    )


def installed_problem(directory: Path | None = None) -> str | None:
    """Why the checker cannot start with the package in `directory` (None: it can)."""
    directory = directory if directory is not None else kusto_dir()
    how = install_command(directory)
    if shutil.which("node") is None:
        return (
            "`node` not found on PATH; the Kusto checker needs Node.js (>= 18, e.g. `apt-get install "
            f"nodejs npm`), then {how}"
        )
    wanted = required_version()
    manifest = package_dir(directory) / "package.json"
    if not (package_dir(directory) / "Kusto.Language.Bridge.min.js").is_file() or not manifest.is_file():
        return f"{PACKAGE} {wanted} is not installed in {directory}; install it with {how}"
    try:
        found = str(json.loads(manifest.read_text(encoding="utf-8")).get("version"))
    except (OSError, ValueError) as error:
        return f"{manifest} is unreadable ({error}); reinstall with {how}"
    if found != wanted:
        # A different parser version can accept or reject other queries: never check with it silently.
        return f"{directory} holds {PACKAGE} {found}, snaptrail needs {wanted}; reinstall with {how}"
    return None


def install(directory: Path | None = None) -> Path:
    """Install the pinned npm package into `directory` (default `kusto_dir()`) with `npm ci`, unless
    the pinned version is there already. Returns the folder; RuntimeError if npm fails."""
    directory = directory if directory is not None else kusto_dir()
    problem = installed_problem(directory)
    if problem is None:
        return directory
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "`npm` not found on PATH; install Node.js (>= 18) with npm, e.g. `apt-get install nodejs npm`"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name in MANIFESTS:  # npm ci installs exactly what the lock file pins, from a folder holding both
        shutil.copyfile(CHECKER_DIR / name, directory / name)
    try:
        proc = subprocess.run(
            [npm, "ci", "--prefix", str(directory), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"`npm ci --prefix {directory}` did not finish within {INSTALL_TIMEOUT_SECONDS}s"
        ) from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"`npm ci --prefix {directory}` failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    problem = installed_problem(directory)
    if problem is not None:
        raise RuntimeError(f"npm ci finished but the checker still cannot start: {problem}")
    return directory


@dataclass(frozen=True)
class KqlDiagnostic:
    severity: str
    code: str
    message: str
    start: int
    length: int


class KustoChecker:
    """One node process, reused for many queries. Use as a context manager (or call ``close``)."""

    def __init__(self, schema_path: Path | None = None, directory: Path | None = None) -> None:
        self.schema_path = Path(schema_path) if schema_path is not None else DEFAULT_SCHEMA
        self.directory = directory if directory is not None else kusto_dir()
        problem = installed_problem(self.directory)
        if problem is not None:
            raise RuntimeError(problem)
        node = shutil.which("node")
        assert node is not None  # installed_problem says so otherwise
        if not self.schema_path.is_file():
            raise RuntimeError(f"Sentinel table schema not found: {self.schema_path}")
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [node, str(SCRIPT), str(self.schema_path)],
            cwd=self.directory,
            env={**os.environ, "SNAPTRAIL_KUSTO_MODULES": str(self.directory / "node_modules")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._buffer = b""
        self._next_id = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self._stderr.close()

    def check(self, query: str) -> list[KqlDiagnostic]:
        """Every diagnostic for ``query`` (errors, warnings, ...), in source order."""
        proc = self._running()
        assert proc.stdin is not None
        self._next_id += 1
        qid = str(self._next_id)
        try:
            proc.stdin.write(json.dumps({"id": qid, "query": query}).encode() + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise self._died(f"could not send the query ({exc})") from exc
        reply = self._read_reply(proc)
        if reply.get("id") != qid:
            raise RuntimeError(f"Kusto checker answered id {reply.get('id')!r}, expected {qid!r}: {reply!r}")
        if "error" in reply:
            raise RuntimeError(f"Kusto checker failed on the query: {reply['error']}\nquery:\n{query}")
        diagnostics = reply.get("diagnostics")
        if not isinstance(diagnostics, list):
            raise RuntimeError(f"Kusto checker answer has no diagnostics list: {reply!r}")
        try:
            return [
                KqlDiagnostic(
                    severity=str(d["severity"]),
                    code=str(d["code"]),
                    message=str(d["message"]),
                    start=int(d["start"]),
                    length=int(d["length"]),
                )
                for d in diagnostics
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeError(f"Kusto checker answer has a malformed diagnostic: {reply!r}") from exc

    def errors(self, query: str) -> list[KqlDiagnostic]:
        """Only the Error-severity diagnostics for ``query``."""
        return [d for d in self.check(query) if d.severity == "Error"]

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("KustoChecker is closed")
        if self._proc.poll() is not None:
            raise self._died("the node process is not running")
        return self._proc

    def _read_reply(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if not selector.select(timeout=QUERY_TIMEOUT_SECONDS):
                    proc.kill()
                    raise self._died(f"no answer within {QUERY_TIMEOUT_SECONDS:.0f}s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise self._died("the node process closed its output")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"Kusto checker printed a malformed line: {line!r}") from exc
        if not isinstance(reply, dict):
            raise RuntimeError(f"Kusto checker printed a non-object line: {line!r}")
        return reply

    def _died(self, what: str) -> RuntimeError:
        proc = self._proc
        status = ""
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            status = f" (exit code {proc.returncode})"
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace").strip()
        return RuntimeError(f"Kusto checker died: {what}{status}; stderr:\n{stderr or '<empty>'}")
