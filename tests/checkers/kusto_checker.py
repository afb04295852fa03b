"""Offline Sentinel KQL checker: Microsoft's Kusto.Language parser and binder, run under node.

``KustoChecker`` starts one ``node tests/checkers/kusto/kql_check.js SCHEMA`` process and sends it
queries as JSON lines; the process parses and binds each query against the AWSCloudTrail table built
from ``snaptrail/cloudtrail/sentinel_table.json`` and answers with Kusto's diagnostics (syntax, binding,
analyzer warnings) plus our LITERAL_LHS lint (a comparison whose left operand is a literal).

The checker never passes silently: a missing node or npm package, a dead process, a malformed or late
answer all raise RuntimeError.
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

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKER_DIR = Path(__file__).resolve().parent / "kusto"
SCRIPT = CHECKER_DIR / "kql_check.js"
PACKAGE_DIR = CHECKER_DIR / "node_modules" / "@kusto" / "language-service-next"
DEFAULT_SCHEMA = REPO_ROOT / "snaptrail" / "cloudtrail" / "sentinel_table.json"
INSTALL_COMMAND = "npm ci --prefix tests/checkers/kusto"
QUERY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class KqlDiagnostic:
    severity: str
    code: str
    message: str
    start: int
    length: int


class KustoChecker:
    """One node process, reused for many queries. Use as a context manager (or call ``close``)."""

    def __init__(self, schema_path: Path | None = None) -> None:
        self.schema_path = Path(schema_path) if schema_path is not None else DEFAULT_SCHEMA
        node = shutil.which("node")
        if node is None:
            raise RuntimeError(
                "`node` not found on PATH; the Kusto checker needs Node.js (>= 18), then run "
                f"`{INSTALL_COMMAND}` from the repository root"
            )
        if not (PACKAGE_DIR / "Kusto.Language.Bridge.min.js").is_file():
            raise RuntimeError(
                f"{PACKAGE_DIR} is missing; install it with `{INSTALL_COMMAND}` from the repository root"
            )
        if not self.schema_path.is_file():
            raise RuntimeError(f"Sentinel table schema not found: {self.schema_path}")
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [node, str(SCRIPT), str(self.schema_path)],
            cwd=CHECKER_DIR,
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
