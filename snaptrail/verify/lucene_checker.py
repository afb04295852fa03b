"""Run Elasticsearch ``query_string`` (Lucene syntax) queries with real Apache Lucene, offline.

``lucene/LuceneRunner.java`` (package data) parses the queries with Lucene's classic QueryParser (the
parser Elasticsearch's query_string query extends) and evaluates them over one Lucene MemoryIndex per
document. It imitates how Elasticsearch stores ECS documents with ``keyword`` fields (untokenized,
case-sensitive, arrays as multi-values, ``_exists_`` answered from the present field names); the Java
header comment lists exactly what is and is not imitated.

Needs a JDK (``javac``/``java``) and the Lucene 8 jars from Debian's ``liblucene8-java``
(``apt-get install default-jdk-headless liblucene8-java``; another folder of jars:
$SNAPTRAIL_LUCENE_JAR_DIR). The runner is compiled on first use into the snaptrail cache
(``snaptrail.verify.cache``), one folder per source version, because the installed package may be
read-only. Nothing here silently passes: a missing jar, a failed compile or a failed run raises
RuntimeError.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snaptrail.verify.cache import cache_dir

HERE = Path(__file__).resolve().parent
JAVA_SOURCE = HERE / "lucene" / "LuceneRunner.java"
MAIN_CLASS = "LuceneRunner"
JAR_DIR = Path(os.environ.get("SNAPTRAIL_LUCENE_JAR_DIR", "/usr/share/java"))
JAR_NAMES = (
    "lucene-core",
    "lucene-queryparser",
    "lucene-memory",
    "lucene-queries",
    "lucene-sandbox",
    "lucene-analyzers-common",
)
INSTALL_HINT = "apt-get install default-jdk-headless liblucene8-java"
RUN_TIMEOUT_SECONDS = 600
# Names the runner uses for itself: the `_exists_` field and the `*` catch-all (ES's default_field).
RESERVED_FIELDS = frozenset({"_exists_", "*"})


@dataclass(frozen=True)
class LuceneResult:
    query_id: str
    error: str | None
    matches: frozenset[str]


def flatten_document(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten an ECS document the way Elasticsearch indexes object fields.

    Nested objects become dotted names, lists become multi-values (a list of objects is flattened per key,
    so ``a.items[].b`` becomes ``a.items.b`` with one value per element), booleans become ``"true"`` /
    ``"false"``, numbers their ``str()``; None and empty containers are dropped. Empty strings are kept
    (ES indexes them for keyword fields).
    """
    if not isinstance(doc, Mapping):
        raise TypeError(f"document must be a mapping, not {type(doc).__name__}")
    out: dict[str, list[str]] = {}
    _flatten_into(out, "", doc)
    return out


def _flatten_into(out: dict[str, list[str]], name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, sub in value.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"field name under {name or '<root>'!r} must be a non-empty string: {key!r}")
            _flatten_into(out, f"{name}.{key}" if name else key, sub)
        return
    if not name:
        raise ValueError(f"a value needs a field name: {value!r}")
    if isinstance(value, list | tuple):
        for item in value:
            _flatten_into(out, name, item)
        return
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value!r} is not a JSON number")
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise TypeError(f"{name}: unsupported value type {type(value).__name__}")
    out.setdefault(name, []).append(text)


def run_lucene(
    queries: Mapping[str, str], documents: Mapping[str, Mapping[str, Any]]
) -> dict[str, LuceneResult]:
    """Run every query against every document in one JVM; returns one result per query id."""
    lines: list[str] = []
    for doc_id, doc in documents.items():
        lines.append(f"D\t{_escape(doc_id)}")
        for field, values in flatten_document(doc).items():
            if field in RESERVED_FIELDS:
                raise ValueError(f"document {doc_id!r}: field name {field!r} is reserved by the checker")
            lines.extend(f"F\t{_escape(field)}\t{_escape(value)}" for value in values)
    lines.extend(f"Q\t{_escape(qid)}\t{_escape(query)}" for qid, query in queries.items())
    payload = ("\n".join(lines) + "\n").encode("utf-8")

    classpath = os.pathsep.join([str(ensure_compiled()), *(str(jar) for jar in find_lucene_jars())])
    java = _tool("java")
    try:
        proc = subprocess.run(
            [java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classpath, MAIN_CLASS],
            input=payload,
            capture_output=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"LuceneRunner did not finish within {RUN_TIMEOUT_SECONDS}s") from exc
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"LuceneRunner failed (exit {proc.returncode}):\n{stderr}")
    return _parse_output(proc.stdout.decode("utf-8"), queries, documents, stderr)


def _parse_output(
    stdout: str, queries: Mapping[str, str], documents: Mapping[str, Any], stderr: str
) -> dict[str, LuceneResult]:
    results: dict[str, LuceneResult] = {}
    # split("\n"), not splitlines(): the latter also splits on characters such as U+2028 inside values.
    for line in stdout.split("\n"):
        if not line:
            continue
        cols = [_unescape(col) for col in line.split("\t")]
        qid = cols[0]
        if qid not in queries or qid in results:
            raise RuntimeError(f"LuceneRunner answered for unexpected or repeated query id {qid!r}: {line!r}")
        if len(cols) >= 2 and cols[1] == "OK":
            unknown = [doc_id for doc_id in cols[2:] if doc_id not in documents]
            if unknown:
                raise RuntimeError(f"LuceneRunner returned unknown document ids {unknown!r}")
            results[qid] = LuceneResult(qid, None, frozenset(cols[2:]))
        elif len(cols) == 3 and cols[1] == "ERROR":
            results[qid] = LuceneResult(qid, cols[2], frozenset())
        else:
            raise RuntimeError(f"LuceneRunner printed a malformed line: {line!r}")
    missing = [qid for qid in queries if qid not in results]
    if missing:
        raise RuntimeError(f"LuceneRunner gave no answer for queries {missing!r}; stderr:\n{stderr}")
    return results


def find_lucene_jars() -> list[Path]:
    """The Lucene 8 jars, from Debian's liblucene8-java (/usr/share/java); RuntimeError if any is missing."""
    jars: list[Path] = []
    missing: list[str] = []
    for name in JAR_NAMES:
        unversioned = JAR_DIR / f"{name}.jar"
        if unversioned.is_file():
            jars.append(unversioned)
            continue
        pattern = re.compile(rf"{re.escape(name)}-(\d+(?:\.\d+)*)\.jar")
        versioned = [
            (tuple(int(part) for part in match.group(1).split(".")), path)
            for path in (JAR_DIR.iterdir() if JAR_DIR.is_dir() else [])
            if (match := pattern.fullmatch(path.name))
        ]
        if not versioned:
            missing.append(name)
            continue
        jars.append(max(versioned)[1])
    if missing:
        raise RuntimeError(
            f"Lucene jars {', '.join(missing)} not found in {JAR_DIR}. Install them with: {INSTALL_HINT}"
        )
    return jars


def classes_dir() -> Path:
    """Where the compiled runner lives: named after the source's hash, so an upgraded snaptrail never
    runs the classes an older one compiled (mtimes of installed files say nothing)."""
    digest = hashlib.sha256(JAVA_SOURCE.read_bytes()).hexdigest()[:16]
    return cache_dir() / "lucene" / digest


def ensure_compiled() -> Path:
    """The compiled runner's folder, compiling LuceneRunner.java into it unless it holds the main class
    already; RuntimeError naming what is missing (java, javac, jars) or what javac said."""
    _tool("java")
    classes = classes_dir()
    class_file = classes / f"{MAIN_CLASS}.class"
    if class_file.is_file():
        return classes
    javac = _tool("javac")
    classpath = os.pathsep.join(str(jar) for jar in find_lucene_jars())
    classes.mkdir(parents=True, exist_ok=True)
    # Compile into a scratch directory and move the results in, so a concurrent run never sees half a build.
    with tempfile.TemporaryDirectory(dir=classes, prefix=".javac-") as scratch:
        proc = subprocess.run(
            [
                javac,
                "-encoding",
                "UTF-8",
                "-Xlint:all",
                "-cp",
                classpath,
                "-d",
                scratch,
                str(JAVA_SOURCE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"javac failed for {JAVA_SOURCE}:\n{proc.stdout}{proc.stderr}")
        built = sorted(Path(scratch).glob("*.class"), key=lambda p: p.name == class_file.name)
        for path in built:  # the main class last: its presence marks the build as complete
            os.replace(path, classes / path.name)
    return classes


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"`{name}` not found on PATH; the Lucene checker needs a JDK and Lucene 8's jars: {INSTALL_HINT}"
        )
    return path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPES[m.group(1)], text)
