"""``jupyter qsecure provenance [log --verify]`` and ``attest``: execution provenance."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Unicode

from .base import UsageError, _read_notebook, _signing_service, _Subcommand


class ProvenanceApp(_Subcommand):
    """The reviewer's verdict on a notebook, or the provenance log."""

    name = "jupyter-qsecure-provenance"
    description = """Check a notebook against the provenance it carries, or the store's chain.

    jupyter qsecure provenance NOTEBOOK [--format text|json] [--strict]
        per cell: executed as shown / source edited after execution / outputs changed
        after execution / never executed in a recorded session, with the files it read
        and wrote, subprocesses, network peers and seeds; and out-of-order runs, hidden
        state, files read that changed since. Exit 0 when every cell is executed as shown
        and the order can be judged (with --strict: and nothing is found), 1 otherwise,
        2 on bad input (a field of the wrong type is named). Works offline on the file.
    jupyter qsecure provenance NOTEBOOK --store FILE
        also check that the notebook's records and chain head are in that store, as
        written, in an intact chain (exit 1 if not). Reads the store only.
    jupyter qsecure provenance log [--verify] [--store FILE]
        list the records of the store; --verify checks the hash chain (exit 1 if broken)."""

    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    verify = Bool(False, help="With `log`: check the hash chain.").tag(config=True)
    strict = Bool(
        False, help="Exit 1 on any finding too (order, hidden state, files changed)."
    ).tag(config=True)
    store = Unicode(
        "",
        help="With `log`: the store file (default: this user's). With a notebook: check its"
        " records and chain head against this store.",
    ).tag(config=True)
    aliases = {"format": "ProvenanceApp.format", "store": "ProvenanceApp.store"}
    flags = {
        "verify": ({"ProvenanceApp": {"verify": True}}, "Check the hash chain."),
        "strict": ({"ProvenanceApp": {"strict": True}}, "Exit 1 on any finding too."),
    }

    def run(self) -> int:
        if self.extra_args[:1] == ["log"]:
            return self._log()
        if len(self.extra_args) != 1:
            raise UsageError(
                "name one notebook: jupyter qsecure provenance NOTEBOOK (or: provenance log)"
            )
        from ..provenance.schema import ProvenanceFormatError
        from ..provenance.verdict import judge

        path = Path(self.extra_args[0])
        notebook = _read_notebook(path)
        try:
            verdict = judge(notebook, path.resolve().parent)
        except ProvenanceFormatError as error:
            raise UsageError(f"{path}: provenance metadata of the wrong shape: {error}") from None
        in_store = self._against_store(notebook) if self.store else None
        if self.format == "json":
            answer = {"notebook": str(path), **verdict.to_json()}
            if in_store is not None:
                answer["store_problems"] = in_store
            print(json.dumps(answer, indent=2))
        else:
            self._print(path, verdict)
            for problem in in_store or []:
                print(f"store: {problem}")
            if in_store == []:
                print(f"store: every record and the chain head are in {self.store}")
        if not verdict.ok or in_store:
            return 1
        return 1 if self.strict and verdict.findings else 0

    def _against_store(self, notebook: dict[str, Any]) -> list[str]:
        from ..provenance.against_store import check_against_store
        from ..provenance.store import ProvenanceStore, StoreError

        path = Path(self.store)
        if not path.is_file():
            raise UsageError(f"{path}: no such store")
        try:
            return check_against_store(notebook, ProvenanceStore(path, read_only=True))
        except StoreError as error:
            raise UsageError(str(error)) from None

    @staticmethod
    def _print(path: Path, verdict: Any) -> None:
        for cell in verdict.cells:
            where = f" ({cell.cell_id})" if cell.cell_id else ""
            detail = (
                f": {cell.detail}" if cell.verdict != "executed as shown" and cell.detail else ""
            )
            print(f"cell {cell.number}{where}: {cell.verdict}{detail}")
            evidence = cell.evidence
            for entry in evidence.get("files_read", []):
                state = {True: "changed since", False: "unchanged", None: entry.get("now", "")}[
                    entry.get("changed")
                ]
                print(
                    f"    read {entry.get('path')} ({entry.get('size', '?')} bytes) {state}".rstrip()
                )
            for entry in evidence.get("files_written", []):
                print(f"    wrote {entry.get('path')} ({entry.get('size', '?')} bytes)")
            for entry in evidence.get("subprocesses", []):
                print(f"    ran {entry.get('executable')}")
            for peer in evidence.get("network", []):
                print(f"    connected to {peer}")
            for entry in evidence.get("seeds", []):
                print(f"    seed {entry.get('source')}({entry.get('value')})")
        for title, items in (
            ("cannot judge order", verdict.cannot_judge),
            ("out of order", verdict.out_of_order),
            ("hidden state", verdict.hidden_state),
            ("files changed", verdict.files_changed),
        ):
            for item in items:
                print(f"{title}: {item}")
        print(
            f"{path}: {'every cell executed as shown' if verdict.ok else 'not every cell is executed as shown'}"
            if not verdict.cannot_judge
            else f"{path}: cannot judge the order of execution"
        )

    def _log(self) -> int:
        from ..identity import server_user as current_user
        from ..provenance.kernel import default_store_path
        from ..provenance.store import ProvenanceStore, StoreError

        path = Path(self.store) if self.store else default_store_path(current_user())
        if self.store and not path.exists():
            raise UsageError(f"{path}: no such store")
        # Read-only: listing and verifying never change the file (nor its journal mode).
        store = ProvenanceStore(path, read_only=True)
        problems = []
        try:
            if path.exists():
                problems = store.verify() if self.verify else []
                try:
                    self._list(store)
                except StoreError as error:
                    if not problems:
                        raise
                    print(f"jupyter qsecure: {error}", file=sys.stderr)
        except StoreError as error:
            raise UsageError(str(error)) from None
        if not self.verify:
            return 0
        for problem in problems:
            print(f"row {problem.position} (seq {problem.seq}) {problem.problem}", file=sys.stderr)
        print(f"chain {'intact' if not problems else 'BROKEN'}: {store.path}", file=sys.stderr)
        return 0 if not problems else 1

    @staticmethod
    def _list(store: Any) -> None:
        for row in store.records():
            record = row.record
            where = record.get("notebook") or "-"
            if record.get("kind") == "execution":
                print(
                    f"{row.seq:6} {record.get('started', '')}  {where}  cell {record.get('cell_id')}  [{record.get('execution_count')}] {record.get('status')}  {row.hash[:19]}"
                )
            else:
                print(
                    f"{row.seq:6} environment  {where}  session {record.get('kernel_session')}  {row.hash[:19]}"
                )


class AttestApp(_Subcommand):
    """Write an in-toto Statement (SLSA provenance v1 predicate) for a notebook run."""

    name = "jupyter-qsecure-attest"
    description = """Write an in-toto Statement v1 for a notebook that carries provenance.

    jupyter qsecure attest NOTEBOOK [--output FILE] [--sign [--key KEY]] [--allow-failing]
    The notebook's provenance verdict must be clean (every cell executed as shown, as
    `jupyter qsecure provenance` judges it): otherwise attest refuses, naming the cells,
    unless --allow-failing is given, which the statement then records."""

    output = Unicode("", help="Where to write the statement.").tag(config=True)
    sign = Bool(False, help="Sign it: write a DSSE envelope with an SSH signature.").tag(
        config=True
    )
    key = Unicode("", help="With --sign: the SSH key (default: [signing] key).").tag(config=True)
    allow_failing = Bool(
        False, help="Attest a run whose provenance verdict is not clean (recorded in it)."
    ).tag(config=True)
    aliases = {"output": "AttestApp.output", "o": "AttestApp.output", "key": "AttestApp.key"}
    flags = {
        "sign": ({"AttestApp": {"sign": True}}, "Write a signed DSSE envelope."),
        "allow-failing": (
            {"AttestApp": {"allow_failing": True}},
            "Attest even when the provenance verdict is not clean (recorded in the statement).",
        ),
    }

    def run(self) -> int:
        from ..provenance.attest import attestation
        from ..provenance.verdict import EXECUTED, judge

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure attest NOTEBOOK")
        path = Path(self.extra_args[0])
        notebook = _read_notebook(path)
        try:
            statement = attestation(notebook, path.name)
            verdict = judge(notebook, path.resolve().parent)
        except ValueError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        problems = [
            f"cell {cell.number}{f' ({cell.cell_id})' if cell.cell_id else ''}: {cell.verdict}"
            for cell in verdict.cells
            if cell.verdict != EXECUTED
        ]
        if not verdict.ok:
            if not self.allow_failing:
                print(
                    f"jupyter qsecure: error: {path}: the provenance verdict is not clean "
                    f"({'; '.join(problems) or 'the order of execution cannot be judged'}); "
                    "fix and run again, or attest anyway with --allow-failing (recorded in "
                    "the statement)",
                    file=sys.stderr,
                )
                return 1
            parameters = statement["predicate"]["buildDefinition"]["internalParameters"]
            parameters["provenance_verdict"] = {
                "clean": False,
                "allow_failing": True,
                "problems": problems,
            }
        if self.sign:
            from ..signing.dsse import sign_envelope
            from ..signing.sshsig import SignatureError

            key = Path(self.key) if self.key else _signing_service().settings.key
            if key is None:
                raise UsageError("--sign needs --key PATH (or [signing] key)")
            try:
                statement = sign_envelope(statement, key)
            except SignatureError as error:
                print(f"jupyter qsecure: error: {error}", file=sys.stderr)
                return 1
        text = json.dumps(statement, indent=2)
        if self.output:
            Path(self.output).write_text(text + "\n", encoding="utf-8")
            print(f"wrote {self.output}", file=sys.stderr)
        else:
            print(text)
        return 0
