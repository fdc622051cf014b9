"""The first kernel start after a server starts, with nothing cached yet (a JupyterHub
user opens a notebook as the server spawns): each encrypted-file keyring entry is derived
once, whoever asks first; distinct entries are read together, off the event loop; a
start's own secrets go before the rest of the warm-up; the wait ends when a store stops
answering, not while a slow one works. Real keyrings.cryptfile files, a real server and
kernels; Argon2 derivations are counted (and held) in this process, time is an injected
clock."""

from __future__ import annotations

import asyncio
import base64
import configparser
import gc
import hashlib
import json
import math
import secrets
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_client import open_session
from plugin_dist import install_plugin

from jupyter_qsecure.secrets.errors import ProviderError
from jupyter_qsecure.secrets.injection import fetch_all
from jupyter_qsecure.secrets.policy import SecretGrant, SecretsPolicy, parse_secrets_policy
from jupyter_qsecure.secrets.providers import ENTRY_POINT_GROUP, Providers
from jupyter_qsecure.secrets.providers.keyring import KeyringProvider
from jupyter_qsecure.secrets.refs import parse_ref

WAIT = 120  # seconds a test waits for an event before it fails


def secrets_policy(sources: dict[str, str], **injection: Any) -> SecretsPolicy:
    """A policy granting each name its source for every notebook."""
    tables = {
        name: {"source": source, "notebooks": ["**/*.ipynb"]} for name, source in sources.items()
    }
    data: dict[str, Any] = {"secrets": tables}
    if injection:
        data["injection"] = injection
    return parse_secrets_policy("qsecure.toml", Path("."), data)


def grants(policy: SecretsPolicy) -> list[SecretGrant]:
    return list(policy.grants.values())


def store_values(count: int) -> dict[str, str]:
    """``count`` values stored in the encrypted-file keyring (entries qsecure/s0...);
    reference -> value."""
    provider = KeyringProvider()
    values = {}
    for index in range(count):
        ref = f"keyring://qsecure/s{index}"
        values[ref] = f"qsv-{secrets.token_hex(12)}"
        provider.store(parse_ref(ref), values[ref])
    return values


def entry_salts(path: str) -> dict[str, bytes]:
    """The Argon2 salt of each entry of a keyrings.cryptfile file: ``service/username``
    -> salt (the password reference's included)."""
    from keyrings.cryptfile.escape import unescape

    config = configparser.RawConfigParser()
    config.read(path)
    salts = {}
    for section in config.sections():
        for option, text in config.items(section):
            try:
                payload = json.loads(base64.decodebytes(text.encode()).decode())
            except ValueError:
                continue  # the scheme and version settings
            entry = f"{unescape(section)}/{unescape(option)}"
            salts[entry] = base64.decodebytes(payload["salt"].encode())
    return salts


class Argon2:
    """Every Argon2 derivation made in this process from now on: the salts in the order
    the derivations began; each waits at :attr:`gate` (open unless closed)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from argon2 import low_level

        self._derive = low_level.hash_secret_raw
        self._lock = threading.Lock()
        self.salts: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.before: Callable[[], None] = lambda: None
        monkeypatch.setattr(low_level, "hash_secret_raw", self.derive)

    def derive(self, *args: Any, **kwargs: Any) -> bytes:
        with self._lock:
            self.salts.append(bytes(kwargs["salt"]))
        self.entered.set()
        self.gate.wait()
        self.before()
        return bytes(self._derive(*args, **kwargs))


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Argon2]:
    counter = Argon2(monkeypatch)
    yield counter
    counter.gate.set()  # never leave a read held


# -- a kernel start while the server warms its cache ----------------------------------------

LATE = "S3_TOKEN"


@pytest.fixture
def warming_server(
    keyring_env: dict[str, str],
    policy: Callable[[str], Path],
    argon2: Argon2,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Four keyring secrets, the last one granted to experiments/late.ipynb and the others
    elsewhere; two reads of the keyring at once; every derivation held from the server's
    start (its warm-up stops at the keyring's unlock). Name -> value."""
    values = store_values(4)
    names = [f"S{index}_TOKEN" for index in range(4)]
    policy(
        "".join(
            f'[secrets.{name}]\nsource = "keyring://qsecure/s{index}"\n'
            f'notebooks = ["{"experiments/late.ipynb" if name == LATE else "other/*.ipynb"}"]\n'
            for index, name in enumerate(names)
        )
    )
    monkeypatch.setattr(KeyringProvider, "read_concurrency", 2)
    argon2.salts.clear()
    argon2.gate.clear()
    return dict(zip(names, values.values(), strict=True))


def kernel_start_asked(app: Any, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once a kernel start has asked the providers for its secrets."""
    providers = app.kernel_services.providers
    original = providers.read
    asked = threading.Event()

    def read(ref: Any, **options: Any) -> Any:
        found = original(ref, **options)
        if options.get("urgent", True):
            asked.set()
        return found

    monkeypatch.setattr(providers, "read", read)
    return asked


async def kernel_output(jp_serverapp: Any, kernel_id: str, source: str) -> str:
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        texts: list[str] = []
        await client.execute_interactive(
            source,
            output_hook=lambda m: texts.append(m["content"].get("text", "")),
            timeout=60,
        )
    finally:
        client.stop_channels()
    return "".join(texts)


async def test_a_kernel_start_during_the_warm_up_derives_nothing_twice(
    warming_server: dict[str, str],
    keyring_env: dict[str, str],
    argon2: Argon2,
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_serverapp: Any,
) -> None:
    app = jp_serverapp.web_app.settings["jupyter_qsecure"]
    asked = kernel_start_asked(app, monkeypatch)
    start = asyncio.ensure_future(open_session(jp_fetch, "experiments/late.ipynb"))
    assert await asyncio.to_thread(asked.wait, WAIT)
    salts = entry_salts(keyring_env["QSECURE_KEYRING_FILE"])
    # The warm-up is held at the unlock, its first two reads started, the others queued.
    assert argon2.salts == [salts["keyring-setting/password reference"]]
    warm_up = {read.key: read for read in app.secrets.warming}  # held: the set is weak
    argon2.gate.set()
    session = await start
    value = warming_server[LATE]
    text = await kernel_output(
        jp_serverapp,
        session["kernel"]["id"],
        "import hashlib, os; print(os.environ['QSECURE_SECRET_NAMES'], "
        f"hashlib.sha256(os.environ['{LATE}'].encode()).hexdigest())",
    )
    assert text.split() == [LATE, hashlib.sha256(value.encode()).hexdigest()]

    await asyncio.to_thread(app.secrets.providers.wait, app.secrets.warming, None)
    assert app.secrets.providers.cached_refs() == [f"keyring://qsecure/s{i}" for i in range(4)]
    # One derivation per entry and one for the unlock, whoever asked first.
    assert Counter(argon2.salts) == Counter(salts.values())
    assert len(argon2.salts) == 5
    # The kernel's own secret started before the warm-up's queued one (the order the
    # scheduler started them: their derivations then race in their threads).
    started = {key: read.order for key, read in warm_up.items()}
    assert sorted(started, key=started.__getitem__)[2:] == [
        "keyring://qsecure/s3",
        "keyring://qsecure/s2",
    ]


@pytest.fixture
def held_store(keyring_env: dict[str, str], policy: Callable[[str], Path], argon2: Argon2) -> str:
    """One keyring secret granted to every notebook; derivations held from the server's
    start. Its value."""
    [value] = store_values(1).values()
    policy('[secrets.SLOW_TOKEN]\nsource = "keyring://qsecure/s0"\nnotebooks = ["**/*.ipynb"]\n')
    argon2.gate.clear()
    return value


async def test_a_slow_store_does_not_hold_up_the_server(
    held_store: str,
    argon2: Argon2,
    monkeypatch: pytest.MonkeyPatch,
    jp_fetch: Any,
    jp_serverapp: Any,
) -> None:
    app = jp_serverapp.web_app.settings["jupyter_qsecure"]
    asked = kernel_start_asked(app, monkeypatch)
    start = asyncio.ensure_future(open_session(jp_fetch, "notes/slow.ipynb"))
    assert await asyncio.to_thread(asked.wait, WAIT)
    assert argon2.entered.is_set()
    # The keyring is busy (held) and a kernel start waits for it: the server answers.
    status = await jp_fetch("api", "status")
    listed = await jp_fetch("qsecure", "secrets", params={"path": "notes/slow.ipynb"})
    assert status.code == 200 and listed.code == 200
    assert json.loads(listed.body)["secrets"][0]["granted"]
    assert not start.done()
    argon2.gate.set()
    session = await start
    text = await kernel_output(
        jp_serverapp,
        session["kernel"]["id"],
        "import hashlib, os; print(hashlib.sha256(os.environ['SLOW_TOKEN'].encode()).hexdigest())",
    )
    assert text.strip() == hashlib.sha256(held_store.encode()).hexdigest()


# -- reads of one store ------------------------------------------------------------------


def test_distinct_entries_are_read_concurrently(
    keyring_env: dict[str, str], argon2: Argon2
) -> None:
    values = store_values(2)
    policy = secrets_policy({f"S{i}_TOKEN": ref for i, ref in enumerate(values)})
    providers = Providers(policy, workers=2)
    try:
        providers.for_ref(parse_ref("keyring://qsecure/s0")).backend()  # unlocked, alone
        # Each derivation waits for another one to run at the same time: read one after
        # the other, the first would wait in vain (and its read fail).
        both = threading.Barrier(2, timeout=WAIT)
        argon2.before = both.wait
        argon2.salts.clear()
        outcome = fetch_all(providers, grants(policy), 60, fresh=False)
    finally:
        providers.close()
    assert outcome == {f"S{i}_TOKEN": value for i, value in enumerate(values.values())}
    assert len(argon2.salts) == 2


def test_a_wrong_password_is_found_once_by_reads_at_once(
    keyring_env: dict[str, str], argon2: Argon2, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = store_values(4)
    monkeypatch.setenv("QSECURE_KEYRING_PASSWORD", secrets.token_hex(12))
    policy = secrets_policy({f"S{i}_TOKEN": ref for i, ref in enumerate(values)})
    providers = Providers(policy, workers=4)
    argon2.salts.clear()
    try:
        outcome = fetch_all(providers, grants(policy), 60, fresh=False)
    finally:
        providers.close()
    assert len(argon2.salts) == 1
    for name, error in outcome.items():
        assert isinstance(error, ProviderError), name
        assert error.reason == "locked" and "wrong keyring password" in str(error)


# -- timeouts: a store that stops answering, one that is slow -------------------------------

SLOW_PLUGIN = """
import threading

from jupyter_qsecure.secrets.providers import SecretProvider

STARTED = {}
RELEASE = {}
CALLS = []


def gate(*names):
    for name in names:
        STARTED[name] = threading.Event()
        RELEASE[name] = threading.Event()


class SlowProvider(SecretProvider):
    scheme = "slow"
    read_concurrency = 1

    def fetch(self, ref):
        CALLS.append(ref.location)
        STARTED[ref.location].set()
        RELEASE[ref.location].wait()
        return "value-of-" + ref.location
"""


@pytest.fixture
def slow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A store (``slow://NAME``) whose reads answer one at a time when the test releases
    them: the plug-in's module."""
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        "qsecure-slow-store",
        {ENTRY_POINT_GROUP: {"slow": "qsecure_slow_store:SlowProvider"}},
        SLOW_PLUGIN,
    )
    import qsecure_slow_store

    yield qsecure_slow_store
    for release in qsecure_slow_store.RELEASE.values():
        release.set()
    sys.modules.pop("qsecure_slow_store", None)


class Clock:
    """An injected monotonic clock; remembers what each thread last read from it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._read = threading.Condition()
        self._last: dict[str, float] = {}

    def __call__(self) -> float:
        with self._read:
            self._last[threading.current_thread().name] = self.now
            self._read.notify_all()
            return self.now

    def advance(self, seconds: float) -> None:
        with self._read:
            self.now += seconds

    def read_by(self, thread: str, at_least: float) -> bool:
        """Wait until ``thread`` has read the clock at ``at_least`` or later."""
        with self._read:
            return self._read.wait_for(lambda: self._last.get(thread, -math.inf) >= at_least, WAIT)


def waiting(
    providers: Providers, policy: SecretsPolicy, timeout: float, name: str = "waiter"
) -> tuple[threading.Thread, dict[str, Any]]:
    """A kernel start's wait for ``policy``'s secrets, in a thread named ``name``."""
    outcome: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(fetch_all(providers, grants(policy), timeout, fresh=False)),
        name=name,
        daemon=True,
    )
    thread.start()
    return thread, outcome


def test_a_store_that_never_answers_times_out(slow_store: Any) -> None:
    slow_store.gate("stuck", "other")
    policy = secrets_policy({"STUCK_TOKEN": "slow://stuck"})
    clock = Clock()
    providers = Providers(policy, clock=clock)
    try:
        thread, outcome = waiting(providers, policy, 5)
        assert slow_store.STARTED["stuck"].wait(WAIT)
        clock.advance(5)
        providers.tick()
        thread.join(WAIT)
        assert not thread.is_alive()
        error = outcome["STUCK_TOKEN"]
        assert isinstance(error, ProviderError) and error.reason == "timeout"
        assert str(error) == "slow://stuck: no answer within 5 s"

        # A read that never returns no longer holds the store's one place: its other
        # entries are read; a new start asking for the stuck one joins its read.
        other_read = providers.read(parse_ref("slow://other"))
        other = secrets_policy({"OTHER_TOKEN": "slow://other", "STUCK_TOKEN": "slow://stuck"})
        thread, outcome = waiting(providers, other, 5, "second-waiter")
        assert slow_store.STARTED["other"].wait(WAIT)
        slow_store.RELEASE["other"].set()
        providers.wait([other_read], None)
        assert clock.read_by("second-waiter", clock.now)  # it asked at this time
        clock.advance(5)  # 5 s since the store last answered
        providers.tick()
        thread.join(WAIT)
        assert outcome["OTHER_TOKEN"] == "value-of-other"
        assert outcome["STUCK_TOKEN"].reason == "timeout"
        assert slow_store.CALLS == ["stuck", "other"]
    finally:
        slow_store.RELEASE["stuck"].set()
        providers.close()


def test_a_slow_store_that_answers_is_waited_for(slow_store: Any) -> None:
    slow_store.gate("a", "b")
    policy = secrets_policy({"A_TOKEN": "slow://a", "B_TOKEN": "slow://b"})
    clock = Clock()
    providers = Providers(policy, clock=clock)
    try:
        thread, outcome = waiting(providers, policy, 5)
        assert slow_store.STARTED["a"].wait(WAIT)
        clock.advance(4)
        slow_store.RELEASE["a"].set()  # answers after 4 s; b starts (one read at a time)
        assert slow_store.STARTED["b"].wait(WAIT)
        clock.advance(4)  # 8 s since the start asked: past the timeout, 4 s since a answered
        providers.tick()
        assert clock.read_by("waiter", clock.now)
        assert thread.is_alive()
        slow_store.RELEASE["b"].set()
        thread.join(WAIT)
        assert outcome == {"A_TOKEN": "value-of-a", "B_TOKEN": "value-of-b"}
    finally:
        providers.close()


def test_other_entries_answering_do_not_hold_a_start_on_a_stuck_one(slow_store: Any) -> None:
    """A read that never returns is given up ``timeout`` after it started, however often
    the store answers reads asked for after it (other users' kernel starts, a warm-up):
    the wait has a bound, it does not last as long as others keep asking."""
    names = [f"o{index}" for index in range(5)]
    slow_store.gate("stuck", *names)
    policy = secrets_policy({"STUCK_TOKEN": "slow://stuck"})
    clock = Clock()
    providers = Providers(policy, clock=clock, workers=2)
    try:
        thread, outcome = waiting(providers, policy, 5)
        assert slow_store.STARTED["stuck"].wait(WAIT)
        for name in names:  # the store answers another entry every 4 s
            other = providers.read(parse_ref(f"slow://{name}"))
            assert slow_store.STARTED[name].wait(WAIT)
            clock.advance(4)
            slow_store.RELEASE[name].set()
            providers.wait([other], None)
            providers.tick()
            if thread.is_alive():
                assert clock.read_by("waiter", clock.now)
        thread.join(WAIT)
        assert not thread.is_alive()
        error = outcome["STUCK_TOKEN"]
        assert isinstance(error, ProviderError) and error.reason == "timeout"
    finally:
        slow_store.RELEASE["stuck"].set()
        providers.close()


# -- the cache -------------------------------------------------------------------------------


def test_values_are_dropped_when_their_cache_period_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = (f"qsv-{secrets.token_hex(12)}" for _ in range(2))
    monkeypatch.setenv("COLD_SOURCE", first)
    policy = secrets_policy({"COLD_TOKEN": "env://COLD_SOURCE"}, cache_seconds=300)
    clock = Clock()
    providers = Providers(policy, clock=clock)
    ref = parse_ref("env://COLD_SOURCE")
    try:
        assert providers.fetch(ref) == first
        monkeypatch.setenv("COLD_SOURCE", second)
        clock.advance(299.5)
        providers.sweep()
        assert providers.cached_refs() == ["env://COLD_SOURCE"]
        assert providers.fetch(ref) == first  # from the cache
        clock.advance(0.5)
        providers.sweep()  # what the expiry timer does on time
        assert providers.cached_refs() == []
        assert providers.fetch(ref) == second
    finally:
        providers.close()
    assert providers.cached_refs() == []


def test_a_value_written_during_a_read_is_not_cached_from_it(slow_store: Any) -> None:
    slow_store.gate("w")
    policy = secrets_policy({"W_TOKEN": "slow://w"})
    providers = Providers(policy)
    try:
        read = providers.read(parse_ref("slow://w"))
        assert slow_store.STARTED["w"].wait(WAIT)
        providers.invalidate(parse_ref("slow://w"))  # written through the REST API
        slow_store.RELEASE["w"].set()
        providers.wait([read], None)
        assert read.result() == "value-of-w"  # for whoever asked before the write
        assert providers.cached_refs() == []
    finally:
        providers.close()


def test_a_value_written_during_two_reads_is_cached_from_neither(slow_store: Any) -> None:
    """A refresh reads the store anew beside a kernel start's read already running; a
    write through the REST API meanwhile keeps both from caching what they read (the
    older one's value was the one the write replaced)."""
    slow_store.gate("w")
    policy = secrets_policy({"W_TOKEN": "slow://w"})
    providers = Providers(policy, clock=Clock(), workers=2)
    ref = parse_ref("slow://w")
    try:
        started = providers.read(ref)
        assert slow_store.STARTED["w"].wait(WAIT)
        fresh = providers.read(ref, fresh=True)  # a refresh: does not join a running read
        assert fresh is not started
        providers.invalidate(ref)  # written through the REST API
        slow_store.RELEASE["w"].set()
        providers.wait([started, fresh], None)
        assert providers.cached_refs() == []
    finally:
        providers.close()


def test_an_unreachable_vault_is_reported_without_waiting_for_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("COLD_VAULT_TOKEN", secrets.token_hex(16))
    policy = parse_secrets_policy(
        "qsecure.toml",
        Path("."),
        {
            "secrets": {
                "V_TOKEN": {"source": "vault://secret/lab#token", "notebooks": ["*.ipynb"]}
            },
            "vault": {"url": f"http://127.0.0.1:{port}", "token_source": "env://COLD_VAULT_TOKEN"},
        },
    )
    providers = Providers(policy, clock=Clock())  # time stands still: only answers count
    try:
        thread, outcome = waiting(providers, policy, 5)
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        providers.close()
    error = outcome["V_TOKEN"]
    assert isinstance(error, ProviderError) and error.reason == "unreachable"
    assert f"127.0.0.1:{port}" in str(error)


def test_the_warm_up_keeps_no_value_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_qsecure.secrets.registry import KernelSecretRegistry
    from jupyter_qsecure.secrets.service import SecretsService

    monkeypatch.setenv("WARM_SOURCE", f"qsv-{secrets.token_hex(12)}")
    policy = secrets_policy({"WARM_TOKEN": "env://WARM_SOURCE"}, cache_seconds=300)
    clock = Clock()
    providers = Providers(policy, clock=clock)
    service = SecretsService(policy, providers, KernelSecretRegistry())
    try:
        service.prefetch()
        providers.wait(service.warming, None)
        for thread in threading.enumerate():
            if thread.name.startswith("qsecure-read-"):
                thread.join(WAIT)
        gc.collect()
        assert list(service.warming) == []  # the finished read, and its value, are gone
        assert providers.cached_refs() == ["env://WARM_SOURCE"]
        clock.advance(300)
        providers.sweep()
        assert providers.cached_refs() == []
    finally:
        service.close()
