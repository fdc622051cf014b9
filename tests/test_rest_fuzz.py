"""Every route the extension registers, fuzzed: bad input is a clear 4xx, never a 500.

For each route and method of :func:`jupyter_qsecure.handlers.handlers` (the /qsecure/ API,
and jupyter_server's contents, checkpoint, session, kernel-action and events routes it
serves in their place), Hypothesis generates requests: arbitrary JSON bodies, documented
fields of the wrong type, huge strings and numbers, deep nesting, bytes that are not JSON or
not UTF-8, odd query strings, hostile path parameters and the headers a handler reads. One
real server answers all the requests of an area. Each answer must be below 500 (a 503 with
a ``{reason, message}`` body is a deliberate "store down"), an error must be JSON with a
string ``message`` (and a string ``reason`` from jupyter-qsecure's own handlers), and the
server must log nothing at ERROR (a traceback) for it.

``QSECURE_FUZZ_EXAMPLES`` (per route and method) and ``QSECURE_FUZZ_SEED`` widen a run by
hand; by default the examples are the same on every run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from jupyter_qsecure.handlers import (
    GuardedCheckpointsHandler,
    GuardedContentsHandler,
    GuardedModifyCheckpointsHandler,
    JSONErrors,
    handlers,
)
from jupyter_qsecure.secrets.registry import KernelSecrets

EXAMPLES = int(os.environ.get("QSECURE_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("QSECURE_FUZZ_SEED")

#: A kernel the registry knows (no process): refreshes that carry its headers reach the body.
KERNEL_ID = "11111111-2222-3333-4444-555555555555"
CAPABILITY = "fuzz-capability-" + "0123456789abcdef" * 2

# --- Values --------------------------------------------------------------------------------

#: Strings a path or name field may be given by someone probing the server.
HOSTILE_TEXT = [
    "",
    "/",
    "..",
    "../..",
    "../outside.ipynb",
    "/etc/passwd",
    "//etc/passwd",
    "a.ipynb",
    "dir",
    "dir/",
    "dir/../a.ipynb",
    "a.ipynb/x",
    "b.txt",
    "a\x00b",
    "\x00",
    "é.ipynb",
    "\u202e.ipynb",
    "\ud800",
    "C:\\Windows",
    "a\\..\\b",
    "~",
    "~/.ssh/id_ed25519",
    "x" * 300,
    "x/" * 300,
    "x" * 100_000,
    " ",
    "\n",
    "%00",
    "author",
    "reviewer",
    "7d",
    "-1d",
    "99999999999999999999d",
    "python3",
]

HUGE_NUMBERS = [10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -0.0, 0]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int, leaf: Any = 1) -> Any:
    """A value nested ``depth`` lists deep."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int) -> Any:
    """A value nested ``depth`` objects deep."""
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


#: Values that break assumptions of depth, size and type.
nasty_values = st.one_of(
    st.sampled_from([deep(500), deep_dict(500), deep(50), {"": None}, [], {}, "x" * 1_000_000]),
    st.sampled_from(HUGE_NUMBERS),
)

cell = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"cell_type": st.sampled_from(["code", "markdown", "raw", "x"]) | json_values},
        optional={
            "id": json_values,
            "source": st.text(max_size=30) | json_values,
            "metadata": json_values,
            "outputs": json_values | st.lists(json_values, max_size=3),
            "execution_count": json_values,
            "attachments": json_values,
        },
    ),
)

#: Something shaped like a notebook, with any part of the wrong type.
notebookish = st.fixed_dictionaries(
    {"nbformat": st.just(4) | json_values, "cells": st.lists(cell, max_size=3) | json_values},
    optional={"metadata": json_values, "nbformat_minor": json_values},
)

#: Something shaped like a contents model, with any part of the wrong type.
modelish = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["notebook", "file", "directory", "x"]) | json_values,
        "format": st.sampled_from(["json", "text", "base64", "x"]) | json_values,
        "content": notebookish | json_values | st.text(max_size=40),
        "chunk": st.sampled_from([1, 2, -1, 0, 10**400, "1"]) | json_values,
        "path": st.sampled_from(HOSTILE_TEXT),
        "name": st.sampled_from(HOSTILE_TEXT),
        "copy_from": st.sampled_from(HOSTILE_TEXT) | json_values,
        "ext": st.sampled_from([".ipynb", ".txt", "/../x", "\x00", ""]) | json_values,
    },
)

field_value = st.one_of(json_values, nasty_values, notebookish, modelish)


def fields_body(names: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """JSON objects with some of ``names``, each of any type (or an object like a notebook)."""
    if not names:
        return st.dictionaries(st.text(max_size=8), field_value, max_size=3)
    return st.dictionaries(st.sampled_from(names), field_value, max_size=len(names))


RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"{",
    b"\xff\xfe\x00{}",
    b'{"path": "\xff"}',
    b"[" * 100_000,
    b'{"a":' * 100_000,
    b"1" * 5000,
    b"9" * 100_000,
    b'"' + b"x" * 2_000_000 + b'"',
    b"\x00",
    b'{"__proto__": {}}',
    b'{"a": NaN, "b": Infinity}',
]


def bodies(names: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Request bodies: the documented fields of any type, arbitrary JSON, raw bytes."""
    as_json = st.one_of(fields_body(names), json_values, nasty_values).map(
        lambda value: json.dumps(value).encode()
    )
    return st.one_of(as_json, as_json, st.sampled_from(RAW_BODIES), st.binary(max_size=64))


# --- Query strings, path parameters, headers ------------------------------------------------

#: Pieces of a query string already percent-encoded (invalid UTF-8 among them).
RAW_QUERY = ["%00", "%FF", "%C3%28", "%ED%A0%80", "%", "%2", "+", "%2E%2E%2Fx", "&", "="]


def quoted(text: str) -> str:
    """``text`` percent-encoded as UTF-8 (a lone surrogate as the bytes Python gives it)."""
    return urllib.parse.quote(text, safe="", errors="surrogatepass")


#: Query values stay below tornado's limit of a request line (64 KiB: beyond it, the
#: connection is closed before any handler runs).
query_text = st.one_of(
    st.sampled_from([t for t in HOSTILE_TEXT if len(t) < 10_000]).map(quoted),
    st.text(max_size=12).map(quoted),
    st.sampled_from(RAW_QUERY),
)


def queries(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Query strings with the route's parameters (repeated, odd values) and odd names."""
    name = st.sampled_from(names) if names else query_text
    pair = st.tuples(name | query_text, query_text).map(lambda p: f"{p[0]}={p[1]}")
    return st.lists(pair | st.sampled_from(RAW_QUERY), max_size=5).map("&".join)


#: A path below /api/contents, percent-encoded as it travels.
RAW_PATHS = [
    "",
    "/",
    "/..",
    "/../..",
    "/%2E%2E",
    "/%2E%2E/%2E%2E/etc/passwd",
    "//etc/passwd",
    "/%2Fetc%2Fpasswd",
    "/a%00b",
    "/%00",
    "/%FF",
    "/%C3%A9.ipynb",
    "/a.ipynb",
    "/dir",
    "/dir/../a.ipynb",
    "/b.txt",
    "/a.ipynb/x",
    "/" + "x" * 5000,
    "/" + "x" * 255 + ".ipynb",
    "/" + "d/" * 200 + "x",
    "/%5C..%5Cx",
    "/~",
    "/.ipynb_checkpoints",
    "/dir/.ipynb_checkpoints/a-checkpoint.ipynb",
]

contents_paths = st.one_of(
    st.sampled_from(RAW_PATHS),
    st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3).map(
        lambda parts: "".join("/" + quoted(p) for p in parts)
    ),
)
#: Ids as jupyter_server's patterns take them (\w+-\w+-\w+-\w+-\w+ and [\w-]+).
uuid_ids = st.one_of(
    st.sampled_from(
        [KERNEL_ID, "a-b-c-d-e", "_-_-_-_-_", "0-0-0-0-" + "0" * 5000, "x" * 40 + "-1-2-3-4"]
    ),
    st.lists(st.from_regex(r"\A[A-Za-z0-9_]{1,8}\Z"), min_size=5, max_size=5).map("-".join),
)
checkpoint_ids = st.one_of(
    st.sampled_from(["checkpoint", "-", "--", "x" * 5000, "_"]),
    st.from_regex(r"\A[A-Za-z0-9_-]{1,12}\Z"),
)
secret_names = st.one_of(
    st.sampled_from(["LAB_TOKEN", "NO_SUCH", "_", "A" * 5000, "a" * 300]),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z"),
)

#: Header values (latin-1 on the wire: beyond it, UTF-8 bytes read as latin-1).
header_values = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "é",
            "€".encode().decode("latin-1"),
            "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
            "x" * 20_000,
            KERNEL_ID,
            KERNEL_ID + "é",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30),
)
authorizations = st.one_of(
    st.just(f"qsecure-capability {CAPABILITY}"),
    header_values.map(lambda v: f"qsecure-capability {v}"),
    header_values,
    header_values.map(lambda v: f"token {v}"),
)


# --- Routes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as it goes on the wire (path and query already encoded)."""

    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        body = self.body if self.body is None or len(self.body) < 200 else self.body[:200] + b"..."
        path = self.path if len(self.path) < 200 else self.path[:200] + "..."
        query = self.query if len(self.query) < 200 else self.query[:200] + "..."
        headers = {k: (v if len(v) < 80 else v[:80] + "...") for k, v in self.headers.items()}
        return f"{self.method} {path}?{query} body={body!r} headers={headers!r}"


def request(
    method: str,
    path: st.SearchStrategy[str] | str,
    query: tuple[str, ...] = (),
    body: tuple[str, ...] | None = None,
    headers: st.SearchStrategy[dict[str, str]] | None = None,
) -> st.SearchStrategy[Request]:
    """Requests of ``method`` to ``path``, with the route's query parameters and body fields."""
    paths = st.just(path) if isinstance(path, str) else path
    return st.builds(
        Request,
        st.just(method),
        paths,
        queries(query),
        bodies(body) if body is not None else st.none(),
        headers if headers is not None else st.just({}),
    )


def under(prefix: str, paths: st.SearchStrategy[str], suffix: str = "") -> Any:
    """Paths ``prefix + path + suffix``."""
    return paths.map(lambda p: f"{prefix}{p}{suffix}")


CONTENTS_MODEL = ("type", "format", "content", "chunk", "path", "name", "copy_from", "ext")
SESSION = ("path", "name", "type", "kernel", "id")
NOTEBOOK = ("path", "notebook")

#: Area -> route-and-method -> requests.
AREAS: dict[str, dict[str, st.SearchStrategy[Request]]] = {
    "contents": {
        "GET /api/contents": request(
            "GET", under("api/contents", contents_paths), ("type", "format", "content", "hash")
        ),
        "PUT /api/contents": request(
            "PUT", under("api/contents", contents_paths), body=CONTENTS_MODEL
        ),
        "POST /api/contents": request(
            "POST", under("api/contents", contents_paths), body=CONTENTS_MODEL
        ),
        "PATCH /api/contents": request(
            "PATCH", under("api/contents", contents_paths), body=CONTENTS_MODEL
        ),
        "DELETE /api/contents": request("DELETE", under("api/contents", contents_paths)),
        "GET checkpoints": request("GET", under("api/contents", contents_paths, "/checkpoints")),
        "POST checkpoints": request(
            "POST", under("api/contents", contents_paths, "/checkpoints"), body=()
        ),
        "POST checkpoints/ID": request(
            "POST",
            st.tuples(contents_paths, checkpoint_ids).map(
                lambda p: f"api/contents{p[0]}/checkpoints/{p[1]}"
            ),
            body=(),
        ),
        "DELETE checkpoints/ID": request(
            "DELETE",
            st.tuples(contents_paths, checkpoint_ids).map(
                lambda p: f"api/contents{p[0]}/checkpoints/{p[1]}"
            ),
        ),
        "POST trust": request("POST", under("api/contents", contents_paths, "/trust"), body=()),
    },
    "jupyter": {
        "POST kernels/ID/ACTION": request(
            "POST",
            st.tuples(uuid_ids, st.sampled_from(["restart", "interrupt"])).map(
                lambda p: f"api/kernels/{p[0]}/{p[1]}"
            ),
            body=(),
        ),
        "GET /api/sessions": request("GET", "api/sessions", ("path",)),
        "POST /api/sessions": request("POST", "api/sessions", body=SESSION),
        "GET /api/sessions/ID": request("GET", under("api/sessions/", uuid_ids)),
        "PATCH /api/sessions/ID": request("PATCH", under("api/sessions/", uuid_ids), body=SESSION),
        "DELETE /api/sessions/ID": request("DELETE", under("api/sessions/", uuid_ids)),
        "POST /api/events": request(
            "POST", "api/events", body=("schema_id", "version", "data", "timestamp")
        ),
        "GET /api/events/subscribe": request("GET", "api/events/subscribe", ("schema_id",)),
    },
    "guard-secrets": {
        "GET status": request("GET", "qsecure/status", ("x",)),
        "GET bypass": request("GET", "qsecure/bypass", ("path",)),
        "POST bypass": request(
            "POST", "qsecure/bypass", body=("fingerprint", "reason", "path", "kind", "preview")
        ),
        "DELETE bypass": request("DELETE", "qsecure/bypass", ("id", "fingerprint", "path")),
        "POST scan": request("POST", "qsecure/scan", body=("path", "model")),
        "GET guard/notice": request("GET", "qsecure/guard/notice", ("path",)),
        "GET secrets": request("GET", "qsecure/secrets", ("path",)),
        "PUT secrets/NAME": request(
            "PUT", under("qsecure/secrets/", secret_names), body=("value",)
        ),
        "DELETE secrets/NAME": request("DELETE", under("qsecure/secrets/", secret_names)),
        "PUT grants/NAME": request(
            "PUT", under("qsecure/grants/", secret_names), body=("notebook",)
        ),
        "DELETE grants/NAME": request(
            "DELETE", under("qsecure/grants/", secret_names), ("notebook",)
        ),
        "POST kernel/refresh": request(
            "POST",
            "qsecure/kernel/refresh",
            body=("names",),
            headers=st.fixed_dictionaries(
                {},
                optional={
                    "Authorization": authorizations,
                    "X-QSecure-Kernel-Id": st.just(KERNEL_ID) | header_values,
                },
            ),
        ),
    },
    "signing-provenance": {
        "GET signature": request("GET", "qsecure/signature", ("path",)),
        "POST signature": request("POST", "qsecure/signature", body=NOTEBOOK),
        "POST sign": request("POST", "qsecure/sign", body=("path", "role", "principal")),
        "GET signing/setup": request("GET", "qsecure/signing/setup", ("path",)),
        "POST signing/setup": request(
            "POST",
            "qsecure/signing/setup",
            body=("key", "principal", "generate", "no_passphrase", "name", "comment"),
        ),
        "GET provenance": request("GET", "qsecure/provenance", ("path",)),
        "POST provenance": request("POST", "qsecure/provenance", body=NOTEBOOK),
        "POST provenance/checkpoint": request("POST", "qsecure/provenance/checkpoint", body=()),
        "GET audit": request("GET", "qsecure/audit", ("since",)),
        "GET status with a hostile token": request(
            "GET",
            "qsecure/status",
            headers=st.fixed_dictionaries({"Authorization": authorizations}),
        ),
    },
}


def test_every_route_and_method_is_fuzzed() -> None:
    """A route or method the extension registers without requests here fails the suite."""
    registered = {
        (pattern, method.upper())
        for pattern, handler in handlers()
        for method in ("get", "put", "post", "patch", "delete")
        if getattr(handler, method) is not getattr(RequestHandler, method)
    }
    fuzzed = {
        (pattern, case.method)
        for area in AREAS.values()
        for strategy in area.values()
        for case in generated(strategy)
        for pattern, _ in handlers()
        if re.match(pattern + "$", "/" + case.path)
    }
    missing = registered - fuzzed
    assert not missing, f"routes and methods without requests: {sorted(missing)}"


def generated(strategy: st.SearchStrategy[Request]) -> list[Request]:
    """``EXAMPLES`` requests drawn by Hypothesis (the same ones each run, unless a seed is
    given by hand)."""
    cases: list[Request] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Request) -> None:
        cases.append(case)

    if SEED is not None:
        collect = seed(int(SEED))(collect)
    with warnings.catch_warnings():  # a megabyte-long body is meant
        warnings.simplefilter("ignore", HypothesisWarning)
        collect()
    return cases


# --- The server ----------------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above, from any logger the server writes to."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record not in self.records:
            self.records.append(record)


@pytest.fixture
def error_records(jp_serverapp: Any, qsecure_app: Any) -> Iterator[ErrorRecords]:
    """The server's ERROR records, as they come."""
    handler = ErrorRecords()
    names = ["", "tornado", "tornado.application", "tornado.access", "tornado.general"]
    loggers = [jp_serverapp.log, qsecure_app.log, *(logging.getLogger(n) for n in names)]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def served(
    store_with_secret: Path, keyring_env: dict[str, str], jp_root_dir: Path
) -> Callable[[], None]:
    """Files for requests to reach deep: a notebook, a text file, a folder."""

    def lay() -> None:
        (jp_root_dir / "dir").mkdir(exist_ok=True)
        notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
        for name in ("a.ipynb", "dir/a.ipynb"):
            if not (jp_root_dir / name).is_file():
                (jp_root_dir / name).write_text(json.dumps(notebook))
        if not (jp_root_dir / "b.txt").is_file():
            (jp_root_dir / "b.txt").write_text("hello\n")

    lay()
    return lay


#: Route patterns (as tornado matches the raw path) answering in JSON, each with whether
#: its handler is jupyter-qsecure's own (its errors carry a reason). A websocket's answer to a
#: request that is no upgrade is tornado's text.
OURS = [
    (re.compile(pattern + "$"), issubclass(handler, JSONErrors))
    for pattern, handler in handlers()
    if not issubclass(handler, WebSocketHandler)
]
assert GuardedContentsHandler and GuardedCheckpointsHandler and GuardedModifyCheckpointsHandler


#: What tornado refuses in a header value (its ``httputil``).
FORBIDDEN_IN_HEADERS = re.compile(r"[\x00-\x08\x0A-\x1F\x7F]")


def problem(case: Request, code: int, body: bytes, errors: list[logging.LogRecord]) -> str | None:
    """What is wrong with the answer to ``case``, or None."""
    if errors:
        return f"{code}; ERROR logged: {errors[0].getMessage()[:300]!r}"
    route = next((ours for regex, ours in OURS if regex.match("/" + case.path)), None)
    # jupyter_server's deliberate answer to a kernel it has no kernelspec for: a message.
    unavailable = code == 501 and case.path.startswith("api/sessions") and b"message" in body
    if code >= 500 and code != 503 and not unavailable:
        return f"{code}: {body[:300]!r}"
    # tornado's HTTP layer refuses a control character in a header before any handler.
    if (
        code == 400
        and not body
        and any(FORBIDDEN_IN_HEADERS.search(v) for v in case.headers.values())
    ):
        return None
    if code < 400 or route is None:  # not one of our routes: the server's own 404
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return f"{code} not JSON: {body[:300]!r}"
    if not isinstance(answer, dict) or not isinstance(answer.get("message"), str):
        return f"{code} without a message: {body[:300]!r}"
    if (route or code == 503) and not isinstance(answer.get("reason"), str):
        return f"{code} without a reason: {body[:300]!r}"
    return None


async def send(
    client: Any, base_url: str, auth: dict[str, str], case: Request
) -> tuple[int, bytes]:
    """Send ``case``; its status and body."""
    headers = {**auth, **case.headers}
    url = base_url + case.path + (f"?{case.query}" if case.query else "")
    try:
        response = await client.fetch(
            url,
            method=case.method,
            body=case.body,
            headers=headers,
            allow_nonstandard_methods=True,
            request_timeout=60,
            raise_error=False,
        )
    except HTTPClientError as error:  # pragma: no cover - raise_error=False
        return error.code, b""
    return response.code, response.body or b""


@pytest.mark.parametrize("area", sorted(AREAS))
async def test_no_request_is_answered_500(
    area: str,
    served: Callable[[], None],
    jp_serverapp: Any,
    qsecure_app: Any,
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    jp_base_url: str,
    error_records: ErrorRecords,
) -> None:
    qsecure_app.registry.remember(
        KernelSecrets(KERNEL_ID, {}, CAPABILITY, "fuzz", "a.ipynb", "python3")
    )
    found: dict[tuple[str, str], str] = {}  # one case for each route and problem
    sent = failed = 0
    for name, strategy in AREAS[area].items():
        for case in generated(strategy):
            served()
            del error_records.records[:]
            auth = {} if "Authorization" in case.headers else jp_auth_header
            try:
                code, body = await send(http_server_client, jp_base_url, auth, case)
            except (ValueError, UnicodeError):  # the client cannot send it: not a test
                continue
            sent += 1
            wrong = problem(case, code, body, list(error_records.records))
            if wrong is not None:
                found.setdefault((name, wrong[:40]), f"{name}: {case!r}\n    -> {wrong}")
                failed += 1
    assert sent >= len(AREAS[area]), sent
    assert not found, f"{failed} of {sent} requests, among them:\n" + "\n".join(found.values())


# --- Each 500 the fuzzing found, as its own case ---------------------------------------------

FILE_MODEL = {"type": "file", "format": "text", "content": "hello"}
LONG = "x" * 300

#: (method, path under the base URL, body or None, status now answered).
FOUND = {
    "GET of a missing file: JSON, not text": ("GET", "api/contents/nothing.txt", None, 404),
    "GET inside a file": ("GET", "api/contents/a.ipynb/x", None, 400),
    "PUT to the root": ("PUT", "api/contents/", FILE_MODEL, 400),
    "PUT of a name too long": ("PUT", f"api/contents/{LONG}", FILE_MODEL, 400),
    "PUT inside a file": ("PUT", "api/contents/b.txt/x", FILE_MODEL, 400),
    "PUT into a missing folder": ("PUT", "api/contents/nowhere/x.txt", FILE_MODEL, 400),
    "PUT of a file over a folder": ("PUT", "api/contents/dir", {"x": 1}, 400),
    "PUT of a file whose content is no string": (
        "PUT",
        "api/contents/c.txt",
        {**FILE_MODEL, "content": 1},
        400,
    ),
    "POST in a folder named too long": ("POST", f"api/contents/{'x' * 5000}", {}, 400),
    "POST with a type that is no string": ("POST", "api/contents/dir", {"type": {}}, 400),
    "POST with an ext that is no string": ("POST", "api/contents/dir", {"ext": 1}, 400),
    "PATCH to a path that is no string": ("PATCH", "api/contents/b.txt", {"path": [1]}, 400),
    "PATCH to a name too long": ("PATCH", "api/contents/b.txt", {"path": LONG}, 400),
    "DELETE of a name too long": ("DELETE", f"api/contents/{LONG}", None, 400),
    "checkpoint restore of a path with a NUL": (
        "POST",
        "api/contents/a%00b/checkpoints/x",
        {},
        400,
    ),
    "trust of a folder": ("POST", "api/contents/dir/trust", {}, 404),
    "trust of the root": ("POST", "api/contents/trust", {}, 404),
    "trust of a missing notebook: JSON, not a page": (
        "POST",
        "api/contents/missing.ipynb/trust",
        {},
        404,
    ),
    "restart of no kernel": ("POST", f"api/kernels/{KERNEL_ID}/restart", {}, 404),
    "POST of a session whose name is no string": (
        "POST",
        "api/sessions",
        {"path": "a.ipynb", "type": "notebook", "name": {}},
        400,
    ),
    "POST of a session whose kernel is no object": (
        "POST",
        "api/sessions",
        {"path": "a.ipynb", "type": "notebook", "kernel": "python3"},
        400,
    ),
    "PATCH of a session with a body not UTF-8": (
        "PATCH",
        f"api/sessions/{KERNEL_ID}",
        b"\xff\xfe",
        400,
    ),
    "POST of a session whose path holds a NUL": (
        "POST",
        "api/sessions",
        {"path": "a\x00b.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
        404,
    ),
    # jupyter_server's own refusals on the routes served in its place: a reason too.
    "GET of an unknown session": ("GET", f"api/sessions/{KERNEL_ID}", None, 404),
    "interrupt of an unknown kernel": ("POST", f"api/kernels/{KERNEL_ID}/interrupt", None, 404),
    "an event of an unknown schema": (
        "POST",
        "api/events",
        {"schema_id": "https://example.org/unknown", "version": "1", "data": {}},
        400,
    ),
}


@pytest.mark.parametrize("case", FOUND)
async def test_bad_input_found_by_fuzzing_is_a_clear_4xx(
    case: str,
    served: Callable[[], None],
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    jp_base_url: str,
    jp_root_dir: Path,
    error_records: ErrorRecords,
) -> None:
    method, path, body, status = FOUND[case]
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    code, answer = await send(
        http_server_client, jp_base_url, jp_auth_header, Request(method, path, body=raw)
    )
    assert code == status, answer
    shown = json.loads(answer)
    assert isinstance(shown["reason"], str) and isinstance(shown["message"], str), shown
    assert "Traceback" not in shown["message"] and str(jp_root_dir) not in shown["message"]
    assert not error_records.records, error_records.records[0].getMessage()
