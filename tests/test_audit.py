"""The audit trail: the file a real server writes, and `jupyter qsecure audit` on trails
crafted through jupyter_events itself (so every event is valid against its schema)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import code, markdown, notebook
from jupyter_events import EventLogger
from qsecure_cli import run_qsecure
from tornado.httpclient import HTTPClientError

from jupyter_qsecure import events
from jupyter_qsecure.audit import AuditFileHandler, parse_audit_policy, read_trail
from jupyter_qsecure.cli import AuditApp, main
from jupyter_qsecure.config import PolicyError, parse_policy

NOW = datetime.now(timezone.utc)
FP = "3f2a9c0d4b5e6f708192a3b4c5d6e7f8"
OTHER_FP = "0123456789abcdef0123456789abcdef"


# The server -------------------------------------------------------------------------------


@pytest.fixture
def trail_in_policy(policy: Callable[[str], Path]) -> Path:
    """A policy naming the trail file, relative to the policy file (before the server starts)."""
    return policy('[audit]\nfile = "trail/audit.jsonl"\n').parent / "trail" / "audit.jsonl"


async def put(jp_fetch: Any, path: str, nb: dict[str, Any]) -> Any:
    model = {"type": "notebook", "format": "json", "content": nb}
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


def lines_of(path: Path) -> list[dict[str, Any]]:
    """The trail's events after the server's start (its guard-state event left out)."""
    events_ = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [e for e in events_ if not e["__schema__"].endswith("/guard-state/v1")]


async def test_refused_save_and_bypass_are_written_to_the_trail(
    trail_in_policy: Path, jp_fetch: Any, github_token: str, audit_events: Any
) -> None:
    path = trail_in_policy
    assert path.exists() and lines_of(path) == []  # created at server start (guard state only)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await put(jp_fetch, "clean.ipynb", notebook(markdown("# Bell")))).code == 201
    leaky = notebook(code(f'token = "{github_token}"'))
    with pytest.raises(HTTPClientError) as caught:
        await put(jp_fetch, "run.ipynb", leaky)
    assert caught.value.code == 422 and caught.value.response is not None
    fingerprint = json.loads(caught.value.response.body)["findings"][0]["fingerprint"]
    response = await jp_fetch(
        "qsecure",
        "bypass",
        method="POST",
        body=json.dumps({"fingerprint": fingerprint, "reason": "will_rotate", "path": "run.ipynb"}),
    )
    assert response.code == 201

    blocked, bypassed = lines_of(path)
    assert blocked["__schema__"] == events.SAVE_BLOCKED
    assert blocked["path"] == "run.ipynb" and blocked["outcome"] == "blocked"
    assert blocked["findings"][0]["fingerprint"] == fingerprint
    assert blocked["findings"][0]["rule"] == "github-token"
    assert bypassed["__schema__"] == events.SAVE_BYPASSED
    assert (bypassed["fingerprint"], bypassed["reason"]) == (fingerprint, "will_rotate")
    assert github_token not in path.read_text()
    # jupyter_server's own events went through the same logger, but not into the trail.
    assert any(not e["__schema__"].startswith(events.SCHEMA_BASE) for e in audit_events())


def command(*args: str, policy_file: Path) -> subprocess.CompletedProcess[str]:
    """`jupyter qsecure ARGS` (in process), with this policy file."""
    return run_qsecure(*args, cwd=policy_file.parent, env={"QSECURE_CONFIG": str(policy_file)})


async def test_default_trail_is_in_the_jupyter_data_dir(
    jp_fetch: Any, jp_data_dir: Path, github_token: str, tmp_path: Path
) -> None:
    with pytest.raises(HTTPClientError):
        await put(jp_fetch, "run.ipynb", notebook(code(f'token = "{github_token}"')))
    [event] = lines_of(jp_data_dir / "qsecure" / "audit.jsonl")
    assert event["__schema__"] == events.SAVE_BLOCKED
    # ...which is where the command looks by default ($JUPYTER_DATA_DIR is the test's).
    (tmp_path / "qsecure.toml").write_text("")
    run = command("audit", policy_file=tmp_path / "qsecure.toml")
    assert run.returncode == 0, run.stderr
    assert "by type: save-blocked 1" in run.stdout


@pytest.fixture
def trail_off(policy: Callable[[str], Path]) -> None:
    policy("[audit]\nenabled = false\n")


async def test_audit_file_can_be_turned_off(
    trail_off: None, jp_fetch: Any, jp_data_dir: Path, github_token: str, audit_events: Any
) -> None:
    with pytest.raises(HTTPClientError):
        await put(jp_fetch, "run.ipynb", notebook(code(f'token = "{github_token}"')))
    assert not (jp_data_dir / "qsecure" / "audit.jsonl").exists()
    assert [e for e in audit_events() if e["__schema__"] == events.SAVE_BLOCKED]


# The handler ------------------------------------------------------------------------------


class Recorder:
    """Emits events through a real jupyter_events EventLogger into an AuditFileHandler."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.logger = EventLogger()
        for schema in events.schema_files():
            self.logger.register_event_schema(schema)
        self.handler = AuditFileHandler(path, **options)
        self.logger.register_handler(self.handler)

    def emit(self, kind: str, at: datetime, **data: Any) -> None:
        self.logger.emit(
            schema_id=f"{events.SCHEMA_BASE}/{kind}/v1", data=data, timestamp_override=at
        )

    def blocked(self, at: datetime, user: str = "alice", fp: str = FP, **more: Any) -> None:
        finding = {"rule": "github-token", "kind": "GitHub token", "fingerprint": fp}
        fields = {"path": "run.ipynb", "outcome": "blocked", "findings": [finding], **more}
        self.emit("save-blocked", at, user=user, **fields)

    def bypassed(self, at: datetime, reason: str, fp: str = FP, user: str = "alice") -> None:
        self.emit("save-bypassed", at, path="run.ipynb", user=user, fingerprint=fp, reason=reason)

    def injected(self, at: datetime, notebook: str, *names: str, user: str = "alice") -> None:
        self.emit(
            "secret-injected",
            at,
            names=list(names),
            kernel_id="k-1",
            notebook=notebook,
            user=user,
            kernel_name="python3",
        )

    def provider_error(self, at: datetime, name: str, reason: str, user: str = "alice") -> None:
        message = f"vault://kv/lab#{name}: {reason}"
        self.emit("provider-error", at, name=name, reason=reason, message=message, user=user)

    def changed(
        self, at: datetime, action: str, name: str, user: str = "alice", **more: Any
    ) -> None:
        self.emit("secret-changed", at, action=action, name=name, user=user, **more)


@pytest.fixture
def trail(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path / "audit.jsonl")


def test_only_qsecure_events_are_written(trail: Recorder) -> None:
    foreign = {
        "$id": "https://events.jupyter.org/jupyter_server/contents_service/v1",
        "version": "1",
        "title": "a foreign event",
        "personal-data": True,
        "description": "not ours",
        "type": "object",
        "properties": {"action": {"type": "string"}},
    }
    trail.logger.register_event_schema(foreign)
    trail.logger.emit(schema_id=foreign["$id"], data={"action": "save"})
    trail.blocked(NOW)
    [event] = lines_of(trail.path)
    assert event["__schema__"] == events.SAVE_BLOCKED


def test_provider_message_field_is_kept(trail: Recorder) -> None:
    trail.provider_error(NOW, "GH_TOKEN", "denied")
    [event] = lines_of(trail.path)
    assert event["message"] == "vault://kv/lab#GH_TOKEN: denied"


def test_rotation_by_size_keeps_whole_lines(tmp_path: Path, jp_environ: Any) -> None:
    recorder = Recorder(tmp_path / "audit.jsonl", max_bytes=2000, backup_count=2)
    for minute in range(40):
        recorder.blocked(NOW - timedelta(minutes=40 - minute), path=f"nb{minute}.ipynb")
    files = sorted(tmp_path.glob("audit.jsonl*"))
    assert [f.name for f in files] == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for file in files:
        assert file.stat().st_size <= 2000
        if os.name == "posix":
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
    trail = read_trail(tmp_path / "audit.jsonl")
    paths = [event.data["path"] for event in trail.events]
    kept = sum(len(lines_of(file)) for file in files)
    assert len(paths) == kept < 40
    assert paths == [f"nb{minute}.ipynb" for minute in range(40 - kept, 40)]


def test_concurrent_writers_never_interleave(trail: Recorder) -> None:
    def write(user: str) -> None:
        for _ in range(50):
            trail.blocked(NOW, user=user, path="x" * 3000)

    threads = [threading.Thread(target=write, args=(f"user{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lines_of(trail.path)) == 400


def test_unwritable_trail_logs_one_line_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("test-audit-unwritable")
    recorder = Recorder(tmp_path / "trail" / "audit.jsonl")
    recorder.handler.log = log
    (tmp_path / "trail" / "audit.jsonl").unlink()
    (tmp_path / "trail").rmdir()
    (tmp_path / "trail").write_text("a file where the folder was")
    with caplog.at_level(logging.ERROR, logger=log.name):
        recorder.blocked(NOW)
        recorder.blocked(NOW)
    [record] = caplog.records
    assert "cannot write the audit trail" in record.getMessage()
    assert record.exc_info is None


def test_audit_policy_is_validated(tmp_path: Path) -> None:
    policy = parse_policy(
        f'[audit]\nfile = "logs/a.jsonl"\nmax_bytes = 0\nstale_days = 7\nrotated = ["{FP}"]\n',
        "qsecure.toml",
        tmp_path,
    )
    assert policy.audit.file == (tmp_path / "logs" / "a.jsonl").resolve()
    assert (policy.audit.max_bytes, policy.audit.stale_days, policy.audit.rotated) == (0, 7, (FP,))
    for text, key in [
        ("colour = 1", "audit.colour"),
        ("enabled = 1", "audit.enabled"),
        ("max_bytes = -1", "audit.max_bytes"),
        ("stale_days = 0", "audit.stale_days"),
        ('rotated = ["ghp_nope"]', "audit.rotated"),
    ]:
        with pytest.raises(PolicyError) as caught:
            parse_audit_policy("qsecure.toml", tmp_path, parse_toml(text))
        assert caught.value.key == key


def parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads(text)


# The command ------------------------------------------------------------------------------


@pytest.fixture
def cli(
    policy: Callable[[str], Path], jp_environ: Any, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run `jupyter qsecure audit ARGS` in process under an empty policy."""
    policy("")

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["audit", *args])
        finally:
            AuditApp.clear_instance()  # traitlets keeps subcommands as singletons
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def anomalies(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith("  [")]


def quiet_history(trail: Recorder) -> None:
    """A busy trail below every threshold."""
    start = NOW - timedelta(days=20)
    for hour in range(0, 200, 7):  # daily work in two notebooks, both from the start
        trail.injected(start + timedelta(hours=hour), "analysis.ipynb", "GH_TOKEN", "IBMQ")
        trail.injected(start + timedelta(hours=hour, minutes=5), "report.ipynb", "GH_TOKEN")
    for minute in (0, 3, 6, 9):  # four refused saves in 10 minutes: not a burst
        trail.blocked(NOW - timedelta(days=3, minutes=-minute))
    for minute in (0, 4, 8, 12, 16, 40):  # five in 16 minutes: never five within 10
        trail.blocked(NOW - timedelta(hours=36, minutes=-minute), user="bob")
    for minute in (0, 2, 4):  # three users, three refused saves each
        for user in ("carol", "dave", "erin"):
            trail.blocked(NOW - timedelta(hours=5, minutes=-minute), user=user)
    for minute in (0, 30):  # two denials within the hour, a third much later
        trail.provider_error(NOW - timedelta(hours=26, minutes=-minute), "GH_TOKEN", "denied")
    trail.provider_error(NOW - timedelta(hours=2), "GH_TOKEN", "denied")
    for minute in (0, 1, 2, 3):  # outages are not authentication failures
        trail.provider_error(NOW - timedelta(hours=3, minutes=-minute), "GH_TOKEN", "unreachable")
    trail.bypassed(NOW - timedelta(days=10), "will_rotate", fp=OTHER_FP)  # recent promise
    trail.bypassed(NOW - timedelta(days=45), "will_rotate")  # old, then re-classified
    trail.bypassed(NOW - timedelta(days=44), "false_positive")
    trail.bypassed(NOW - timedelta(days=45), "test_credential", fp="ab" * 16)


def test_quiet_trail_flags_nothing(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    code, out, err = cli("--file", str(trail.path))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "no anomalies"
    assert "by type: save-blocked 19, save-bypassed 4, secret-injected 58, provider-error 7" in out
    assert "  alice  provider-error 7, save-blocked 4, save-bypassed 4, secret-injected 58" in out


def test_burst_of_refused_saves(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    at = NOW - timedelta(days=1, hours=4)
    for minute in (0, 2, 4, 6, 8, 9):
        trail.blocked(at + timedelta(minutes=minute), user="mallory", path=f"n{minute}.ipynb")
    trail.blocked(at + timedelta(minutes=9), user="mallory", outcome="scan-error", findings=[])
    trail.blocked(at + timedelta(minutes=9), user="mallory", outcome="symlink", findings=[])
    trail.blocked(at + timedelta(minutes=9), user="mallory", outcome="protected", findings=[])
    trail.blocked(
        at + timedelta(minutes=9), user="mallory", outcome="allowed-on-error", findings=[]
    )
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    [line] = anomalies(out)
    assert line.startswith("[blocked-save-burst] mallory had 9 saves refused in 9 minutes (")
    assert "n0.ipynb, n2.ipynb, n4.ipynb and 4 more" in line  # distinct paths


def test_the_text_report_shows_paths_and_names_escaped(trail: Recorder, cli: Any) -> None:
    """A notebook named with escape sequences cannot hide its anomaly from an admin reading
    the report on a terminal (a carriage return and an erase-line over the line)."""
    quiet_history(trail)
    trick = "\x1b[2K\rno anomalies"
    trail.injected(NOW - timedelta(hours=1), f"scratch/{trick}.ipynb", "GH_TOKEN", user="bob")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    assert "\x1b" not in out and "\r" not in out
    [line] = anomalies(out)
    assert "scratch/\\x1b[2K\\rno anomalies.ipynb" in line


def test_repeated_provider_failures(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    at = NOW - timedelta(hours=10)
    trail.provider_error(at, "VAULT_DB", "denied")
    trail.provider_error(at + timedelta(minutes=20), "VAULT_DB", "expired", user="bob")
    trail.provider_error(at + timedelta(minutes=59), "VAULT_DB", "locked")
    trail.provider_error(at + timedelta(minutes=30), "OTHER", "denied")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    [line] = anomalies(out)
    assert line.startswith("[provider-failures] VAULT_DB: the secret store refused 3 times")
    assert "denied x1, expired x1, locked x1; for alice, bob" in line


def test_secret_injected_outside_its_usual_notebooks(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    trail.injected(NOW - timedelta(hours=1), "scratch/exfil.ipynb", "GH_TOKEN", user="bob")
    trail.injected(NOW - timedelta(minutes=30), "scratch/exfil.ipynb", "GH_TOKEN", user="bob")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    [line] = anomalies(out)  # flagged once: from then on it is part of the usual set
    assert line.startswith(
        "[unusual-notebook] GH_TOKEN was injected into scratch/exfil.ipynb for bob on "
    )
    assert "(58 earlier injections, into analysis.ipynb, report.ipynb)" in line


def test_an_automatic_restart_is_counted_for_no_one(trail: Recorder, cli: Any) -> None:
    """A kernel the server restarted by itself is recorded with an empty user: the summary
    names it as such, never as someone's, and its events count for no one."""
    quiet_history(trail)
    trail.emit(
        "secret-injected",
        NOW - timedelta(hours=1),
        names=["GH_TOKEN"],
        kernel_id="k-1",
        notebook="scratch/new.ipynb",
        user="",
        restart="automatic",
        kernel_name="python3",
    )
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    assert "  (automatic restart)  secret-injected 1" in out
    [line] = anomalies(out)
    assert "injected into scratch/new.ipynb for (automatic restart) on " in line


def test_new_secret_builds_its_usual_set_first(trail: Recorder, cli: Any) -> None:
    for day, name in enumerate(["a.ipynb", "b.ipynb", "c.ipynb", "a.ipynb", "d.ipynb"]):
        trail.injected(NOW - timedelta(days=10 - day), name, "NEW_SECRET")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    [line] = anomalies(out)
    assert "NEW_SECRET was injected into d.ipynb" in line
    assert "(4 earlier injections, into a.ipynb, b.ipynb, c.ipynb)" in line


def test_open_will_rotate_bypasses(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    silent, seen = "cd" * 16, "ef" * 16
    trail.bypassed(NOW - timedelta(days=40), "will_rotate", fp=silent)
    trail.bypassed(NOW - timedelta(days=35), "will_rotate", fp=seen, user="bob")
    trail.blocked(NOW - timedelta(days=2), fp=seen, user="carol")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 1
    first, second = anomalies(out)
    assert first.startswith(f"[open-will-rotate] credential {silent}, bypassed as will_rotate")
    assert "still open after 40 days (limit 30): no later event shows it was rotated" in first
    assert second.startswith(
        f"[open-will-rotate] credential {seen}, bypassed as will_rotate by bob"
    )
    assert "seen again in 1 later event(s), the last on " in second
    assert "so it was still in use after the promise" in second
    # Older than the limit only:
    assert cli("--file", str(trail.path), "--stale-days", "41")[0] == 0


def test_rotated_fingerprints_in_the_policy_are_settled(
    trail: Recorder, cli: Any, policy: Callable[[str], Path]
) -> None:
    trail.bypassed(NOW - timedelta(days=40), "will_rotate")
    assert cli("--file", str(trail.path))[0] == 1
    policy(f'[audit]\nrotated = ["{FP}"]\n')
    assert cli("--file", str(trail.path))[0] == 0


def test_since_limits_counts_and_anomalies(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    for minute in range(5):
        trail.blocked(NOW - timedelta(days=3, hours=2, minutes=-minute), user="mallory")
    trail.bypassed(NOW - timedelta(days=40), "will_rotate", fp="cd" * 16)
    code, out, _ = cli("--file", str(trail.path), "--since", "7d")
    assert code == 1
    assert [line.split("]")[0] for line in anomalies(out)] == [
        "[open-will-rotate",  # a standing condition: reported whatever --since says
        "[blocked-save-burst",
    ]
    code, out, _ = cli("--file", str(trail.path), "--since", "24h")
    assert code == 1
    [line] = anomalies(out)
    assert line.startswith("[open-will-rotate]")
    assert "mallory" not in out
    assert "since " in out and ": 14 event(s)" in out
    assert "by type: save-blocked 9, provider-error 5" in out
    day = (NOW - timedelta(days=3, hours=3)).strftime("%Y-%m-%d")
    code, out, _ = cli("--file", str(trail.path), "--since", day)
    assert "[blocked-save-burst] mallory" in out


def test_json_format(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    trail.injected(NOW - timedelta(hours=1), "new.ipynb", "IBMQ")
    code, out, err = cli("--file", str(trail.path), "--format", "json", "--since", "48h")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["files"] == [str(trail.path)]
    assert report["events"] == 89 and report["counted"] == 23
    assert report["by_type"] == {"save-blocked": 15, "secret-injected": 1, "provider-error": 7}
    assert report["by_user"]["alice"] == {"provider-error": 7, "secret-injected": 1}
    assert report["malformed"] == {"count": 0, "lines": []}
    [anomaly] = report["anomalies"]
    assert anomaly["kind"] == "unusual-notebook" and anomaly["subject"] == "IBMQ"
    assert anomaly["where"] == ["audit.jsonl:89"]
    assert datetime.fromisoformat(anomaly["time"].replace("Z", "+00:00")) < NOW


def test_secret_changes_are_summarised_by_name(trail: Recorder, cli: Any) -> None:
    quiet_history(trail)
    trail.changed(NOW - timedelta(days=3), "set", "OLD_TOKEN")
    trail.changed(NOW - timedelta(hours=5), "set", "DB_PASSWORD")
    trail.changed(NOW - timedelta(hours=4), "set", "DB_PASSWORD", user="bob")
    trail.changed(NOW - timedelta(hours=3), "delete", "DB_PASSWORD", user="bob")
    for path in ("analysis.ipynb", "report.ipynb"):
        trail.changed(NOW - timedelta(hours=2), "grant", "GH_TOKEN", notebook=path)
    trail.changed(NOW - timedelta(hours=1), "revoke", "GH_TOKEN", notebook="report.ipynb")
    code, out, err = cli("--file", str(trail.path))
    assert (code, err) == (0, "")  # changes are counted, not flagged
    assert "skipped" not in out  # not "other schemas"
    assert "secret-injected 58, provider-error 7, secret-changed 7" in out
    assert "  alice  provider-error 7, save-blocked 4, save-bypassed 4, secret-changed 5," in out
    assert "  bob    save-blocked 6, secret-changed 2" in out
    assert (
        "secret changes: DB_PASSWORD set 2, delete 1; GH_TOKEN grant 2, revoke 1; OLD_TOKEN set 1"
    ) in out.splitlines()

    code, out, err = cli("--file", str(trail.path), "--format", "json", "--since", "24h")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["other_schemas"] == 0 and report["malformed"]["count"] == 0
    assert report["by_type"]["secret-changed"] == 6
    assert report["by_user"]["bob"] == {"secret-changed": 2}  # his refused saves: 36 h ago
    assert report["secret_changes"] == {
        "DB_PASSWORD": {"set": 2, "delete": 1},
        "GH_TOKEN": {"grant": 2, "revoke": 1},
    }
    [event] = [e for e in read_trail(trail.path).events if e.data.get("action") == "revoke"]
    assert event.kind == "secret-changed" and event.data["notebook"] == "report.ipynb"


def test_secret_changed_event_without_its_fields_is_malformed(trail: Recorder, cli: Any) -> None:
    trail.changed(NOW - timedelta(minutes=5), "set", "GH_TOKEN")
    partial = {"__schema__": events.SECRET_CHANGED, "__timestamp__": NOW.isoformat(), "user": "a"}
    with trail.path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps({**partial, "name": "GH_TOKEN"}) + "\n")
    code, out, _ = cli("--file", str(trail.path))
    assert code == 0
    assert "by type: secret-changed 1" in out and "secret changes: GH_TOKEN set 1" in out
    assert "audit.jsonl:2 secret-changed event without a str 'action'" in out


def test_malformed_lines_are_counted_not_fatal(trail: Recorder, cli: Any) -> None:
    trail.blocked(NOW - timedelta(hours=1))
    with trail.path.open("ab") as stream:
        stream.write(b'{"__schema__": "https://events.jupyter.org/jupyter_qsecure/save-bl')
        stream.write(b"\n\xff\xfe not utf-8\n[1, 2]\n")
        broken = {"__schema__": events.SAVE_BLOCKED, "__timestamp__": "yesterday", "user": "a"}
        stream.write(json.dumps(broken).encode() + b"\n")
        no_findings = {**broken, "__timestamp__": NOW.isoformat(), "path": "p", "outcome": "x"}
        stream.write(json.dumps(no_findings).encode() + b"\n")
        other = {"__schema__": events.SAVE_BLOCKED.replace("v1", "v2"), "__timestamp__": "x"}
        stream.write(json.dumps(other).encode() + b"\n\n")
    trail.blocked(NOW)
    code, out, err = cli("--file", str(trail.path))
    assert (code, err) == (0, "")
    assert "save-blocked 2" in out
    assert (
        "skipped 5 malformed line(s): audit.jsonl:2 not JSON; audit.jsonl:3 not UTF-8; "
        "audit.jsonl:4 not a JSON object; audit.jsonl:5 save-blocked event without a valid "
        "__timestamp__; audit.jsonl:6 save-blocked event without a list 'findings'"
    ) in out
    assert "skipped 1 event(s) of other schemas or versions" in out
    code, out, err = cli("--file", str(trail.path), "--format", "json")
    assert json.loads(out)["malformed"]["count"] == 5
    assert "skipped 5 malformed line(s)" in err


@pytest.mark.parametrize("configured", [False, True])
def test_fresh_install_gives_an_empty_summary(
    configured: bool, policy: Callable[[str], Path], cli: Any
) -> None:
    """No event recorded yet (the default trail, or the policy's, not written): an empty
    summary in text and JSON and exit 0, so a daily monitoring run passes."""
    if configured:
        policy('[audit]\nfile = "trail/audit.jsonl"\n')
    code, out, err = cli()
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "trail: audit.jsonl: 0 event(s) (nothing recorded yet)",
        "no anomalies",
    ]
    code, out, err = cli("--format", "json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["files"][0].endswith("audit.jsonl")
    assert (report["events"], report["by_type"], report["anomalies"]) == (0, {}, [])
    assert report["malformed"] == {"count": 0, "lines": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--file", "missing.jsonl"], "missing.jsonl: no audit trail here"),
        (["--file", "."], "cannot read"),
        (
            ["--file", "garbage.txt"],
            "not a jupyter_events JSON-lines trail (garbage.txt:1: not JSON)",
        ),
        (["--since", "last tuesday"], "--since: expected a duration such as 24h or 7d"),
        (["--since", "7y"], "--since: expected"),
        (["--since", "99999999999d"], "--since: expected"),
        (["--stale-days", "0"], "--stale-days: expected 1 or more, got 0"),
        (["--stale-days=-3"], "--stale-days: expected 1 or more, got -3"),
        (["--format", "xml"], "xml"),
        (["extra"], "unexpected argument 'extra'"),
    ],
)
def test_bad_input_exits_2(
    args: list[str],
    message: str,
    trail: Recorder,
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trail.blocked(NOW)
    (tmp_path / "garbage.txt").write_text("hello\nworld\n")
    monkeypatch.chdir(tmp_path)
    if "--file" not in args:
        args = ["--file", str(trail.path), *args]
    code, out, err = cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_command_line_end_to_end(trail: Recorder, tmp_path: Path) -> None:
    trail.bypassed(NOW - timedelta(days=31), "will_rotate")
    (tmp_path / "qsecure.toml").write_text("")
    run = command("audit", "--file", str(trail.path), policy_file=tmp_path / "qsecure.toml")
    assert run.returncode == 1, run.stderr
    assert "[open-will-rotate]" in run.stdout
    run = command(
        "audit", "--file", str(tmp_path / "nothing"), policy_file=tmp_path / "qsecure.toml"
    )
    assert run.returncode == 2
    assert run.stderr.startswith("jupyter qsecure: error: ") and "Traceback" not in run.stderr
