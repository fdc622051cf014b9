"""``jupyter qsecure provenance [log --verify]`` and ``attest``: execution provenance."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Unicode

from .._shown import shown_path
from .base import UsageError, _read_notebook, _signing_service, _Subcommand, write_output


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
    jupyter qsecure provenance log [--verify] [--store FILE] [--checkpoints FILE]
                                   [--checkpoint-key PUB]
        list the records of the store; --verify checks the hash chain and the store
        against its signed checkpoints (truncated, deleted, reordered or rewritten
        records; forged checkpoints): exit 1 on any problem.
    jupyter qsecure provenance checkpoint [--store FILE]
        sign a checkpoint of the store's chain now and append it to the checkpoint file;
        exit 1, signing nothing, when the chain or its checkpoints are broken."""

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
    checkpoints = Unicode(
        "", help="With `log --verify`: the checkpoint file (default: beside the store)."
    ).tag(config=True)
    checkpoint_key = Unicode(
        "",
        help="The trusted checkpoint public key (default: the server's, beside the store).",
    ).tag(config=True)
    aliases = {
        "format": "ProvenanceApp.format",
        "store": "ProvenanceApp.store",
        "checkpoints": "ProvenanceApp.checkpoints",
        "checkpoint-key": "ProvenanceApp.checkpoint_key",
    }
    flags = {
        "verify": ({"ProvenanceApp": {"verify": True}}, "Check the hash chain."),
        "strict": ({"ProvenanceApp": {"strict": True}}, "Exit 1 on any finding too."),
    }

    def run(self) -> int:
        if self.extra_args[:1] == ["log"]:
            return self._log()
        if self.extra_args[:1] == ["checkpoint"]:
            return self._checkpoint()
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
            raise UsageError(
                f"{shown_path(path)}: provenance metadata of the wrong shape: {error}"
            ) from None
        in_store = self._against_store(notebook) if self.store else None
        if self.format == "json":
            answer = {"notebook": str(path), **verdict.to_json()}
            if in_store is not None:
                answer["store_problems"] = in_store
            print(json.dumps(answer, indent=2))
        else:
            self._print(path, verdict)
            from .._shown import shown

            for problem in in_store or []:  # quotes record ids and hashes from the notebook
                print(f"store: {shown(problem, 2000)}")
            if in_store == []:
                print(f"store: every record and the chain head are in {self.store}")
        if not verdict.ok or in_store:
            return 1
        return 1 if self.strict and verdict.findings else 0

    def _against_store(self, notebook: dict[str, Any]) -> list[str]:
        from ..config import PolicyError, load_policy
        from ..provenance.against_store import check_against_store
        from ..provenance.store import ProvenanceStore, StoreError

        path = _store_file(Path(self.store))
        try:
            limit = load_policy().provenance.timeline_limit
        except PolicyError as error:
            raise UsageError(str(error)) from None
        store = ProvenanceStore(path, read_only=True)
        try:
            return check_against_store(notebook, store, limit) + self._embedded_checkpoint(
                notebook, store
            )
        except StoreError as error:
            raise UsageError(str(error)) from None

    def _embedded_checkpoint(self, notebook: dict[str, Any], store: Any) -> list[str]:
        """The notebook's signed checkpoint (``qsecure.provenance.checkpoint``) checked
        against the store: a store truncated or rewritten since that save is found even
        when the checkpoint file lost its later lines. With a trusted key, the notebook's
        chain head must be anchored: by its checkpoint (a save signs one after it embeds
        the records), or else by the checkpoint file, intact. An older save's checkpoint
        put back into the notebook (it is outside what signatures sign), or none, left the
        records after it rewritable with every check passing."""
        from ..provenance.checkpoint import (
            CheckpointError,
            check_chain,
            parse_checkpoint,
            read_checkpoints,
            read_public_key,
        )

        section = notebook.get("metadata", {}).get("qsecure")
        provenance = section.get("provenance") if isinstance(section, dict) else None
        provenance = provenance if isinstance(provenance, dict) else {}
        embedded = provenance.get("checkpoint")
        head = provenance.get("chain_head")
        position = store.position_of(head) if isinstance(head, str) else None
        if embedded is None and position is None:
            return []
        label = "the notebook's checkpoint"
        checkpoints_file, key_file = self._checkpoint_files(store.path)
        try:
            keys = [read_public_key(key_file)] if key_file.exists() else []
        except CheckpointError as error:
            raise UsageError(str(error)) from None
        if not keys:
            if embedded is None:
                return []
            return [f"{label} cannot be checked: no trusted checkpoint key at {key_file}"]
        problems: list[str] = []
        anchored = 0
        if embedded is not None:
            try:
                note = embedded.get("note") if isinstance(embedded, dict) else None
                checkpoint: Any = parse_checkpoint(note)
            except CheckpointError as error:
                checkpoint = error
            problems, anchored = check_chain(store, [(label, checkpoint)], keys)
            anchored = 0 if problems else anchored
        if position is None or anchored >= position:
            return problems
        try:
            in_file, file_anchored = check_chain(store, read_checkpoints(checkpoints_file), keys)
        except CheckpointError as error:
            raise UsageError(str(error)) from None
        if not in_file and file_anchored >= position:
            return problems
        what = (
            f"{label} (signed) anchors only the first {anchored} records"
            if embedded is not None and not problems
            else (
                "the notebook carries no valid checkpoint, and the checkpoint file"
                f" {'is not intact' if in_file else f'anchors only the first {file_anchored} records'}"
            )
        )
        return [
            *problems,
            f"the notebook's chain head is record {position} of the store, but {what}: the"
            " records it carries are anchored by no signed checkpoint (an older checkpoint put"
            " back into the notebook, or its checkpoint removed?)",
        ]

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
                if isinstance(entry.get("dataset"), dict):
                    from ..provenance.datasets import label

                    print(f"      dataset {label(entry['dataset'])}")
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
            f"{shown_path(path)}: {'every cell executed as shown' if verdict.ok else 'not every cell is executed as shown'}"
            if not verdict.cannot_judge
            else f"{shown_path(path)}: cannot judge the order of execution"
        )

    def _store_path(self) -> Path:
        from ..identity import server_user as current_user
        from ..provenance.kernel import default_store_path

        return Path(self.store) if self.store else default_store_path(current_user())

    def _checkpoint_files(self, store: Path) -> tuple[Path, Path]:
        from ..provenance.checkpoint import key_paths

        key, checkpoints = key_paths(store)
        return (
            Path(self.checkpoints) if self.checkpoints else checkpoints,
            Path(self.checkpoint_key) if self.checkpoint_key else key.with_name(key.name + ".pub"),
        )

    def _checkpoint(self) -> int:
        from ..provenance.checkpoint import BrokenChainError, Checkpointer, CheckpointError
        from ..provenance.store import ProvenanceStore, StoreError

        path = _store_file(self._store_path())
        checkpointer = Checkpointer(ProvenanceStore(path, read_only=True))
        try:
            note = checkpointer.verified_checkpoint()
        except BrokenChainError as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            print(
                f"not signed: the chain of {shown_path(path)} is broken (see above), and a checkpoint"
                " would vouch for it; `jupyter qsecure provenance log --verify` lists the"
                " records",
                file=sys.stderr,
            )
            return 1
        except (CheckpointError, StoreError, OSError) as error:
            raise UsageError(str(error)) from None
        print(note, end="")
        print(f"appended to {checkpointer.path}", file=sys.stderr)
        return 0

    def _verify_checkpoints(self, store: Any) -> list[str]:
        from ..provenance.checkpoint import CheckpointError, verify_files

        checkpoints, key = self._checkpoint_files(store.path)
        if self.checkpoints and not checkpoints.is_file():
            raise UsageError(f"{checkpoints}: no such checkpoint file")
        if self.checkpoint_key and not key.is_file():
            raise UsageError(f"{key}: no such public key file")
        try:
            problems, count, anchored = verify_files(store, checkpoints, key)
        except CheckpointError as error:
            raise UsageError(str(error)) from None
        if not count:
            print(
                f"no checkpoints in {checkpoints}: the chain's end is not anchored", file=sys.stderr
            )
        else:
            print(
                f"{count} checkpoint(s); the latest valid one anchors the first {anchored} records",
                file=sys.stderr,
            )
        return problems

    def _log(self) -> int:
        from ..provenance.store import ProvenanceStore, StoreError

        path = self._store_path()
        if self.store or path.exists():
            _store_file(path)
        # Read-only: listing and verifying never change the file (nor its journal mode).
        store = ProvenanceStore(path, read_only=True)
        problems = []
        anchored: list[str] = []
        try:
            if path.exists():
                problems = store.verify() if self.verify else []
                anchored = self._verify_checkpoints(store) if self.verify else []
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
            print(problem, file=sys.stderr)
        for text in anchored:
            print(f"checkpoints: {text}", file=sys.stderr)
        broken = problems or anchored
        print(f"chain {'intact' if not broken else 'BROKEN'}: {store.path}", file=sys.stderr)
        return 0 if not broken else 1

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


def _store_file(path: Path) -> Path:
    """``path`` if it is a file, else a UsageError: SQLite would wait on a named pipe for a
    writer, and read a device."""
    import os
    import stat

    from .._files import kind_of

    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise UsageError(f"{shown_path(path)}: no such store") from None
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"{shown_path(path)}: not a provenance store ({kind_of(mode)}, not a file)"
        )
    return path


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
        from ..provenance.schema import ProvenanceFormatError
        from ..provenance.verdict import EXECUTED, judge
        from ..signing.canonical import CanonicalFormError

        if len(self.extra_args) != 1:
            raise UsageError("name one notebook: jupyter qsecure attest NOTEBOOK")
        path = Path(self.extra_args[0])
        notebook = _read_notebook(path)
        try:
            statement = attestation(notebook, path.name)
            verdict = judge(notebook, path.resolve().parent)
        except ProvenanceFormatError as error:
            raise UsageError(
                f"{shown_path(path)}: provenance metadata of the wrong shape: {error}"
            ) from None
        except CanonicalFormError as error:  # the notebook has no canonical form to attest
            raise UsageError(f"{shown_path(path)}: {error}") from None
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
                    f"jupyter qsecure: error: {shown_path(path)}: the provenance verdict is not clean "
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
            except CanonicalFormError as error:  # text the statement carries has no UTF-8
                raise UsageError(
                    f"{shown_path(path)}: cannot sign its statement: {error}"
                ) from None
            except SignatureError as error:
                print(f"jupyter qsecure: error: {error}", file=sys.stderr)
                return 1
        text = json.dumps(statement, indent=2)
        if self.output:
            write_output(self.output, text + "\n", "--output", source=path)
            print(f"wrote {self.output}", file=sys.stderr)
        else:
            print(text)
        return 0
