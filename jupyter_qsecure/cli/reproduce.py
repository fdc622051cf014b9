"""``jupyter qsecure reproduce NOTEBOOK``: run it again and compare with what was recorded."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from traitlets import Bool, Enum, Float, Integer, List, Unicode

from .._shown import shown_path
from .base import UsageError, _signing_service, _Subcommand, check_output, write_output


class ReproduceApp(_Subcommand):
    """Re-run a notebook in a fresh kernel and compare each cell with its recorded outputs."""

    name = "jupyter-qsecure-reproduce"
    description = """Re-run a notebook in a fresh kernel and compare each cell with its recorded outputs digest.

    jupyter qsecure reproduce NOTEBOOK [--dataset BAG]... [--rtol X] [--atol X] [--store STORE] [--format text|json|junit]
    First checks every file the recorded run read (same SHA-256, or pinned by a --dataset
    bag, which must verify and be signed as [signing] requires), lists the recorded seeds
    and the environment drift. Exit 0 when every input is the same and every cell
    reproduced (or is tagged qsecure:volatile, or is within tolerance), 1 otherwise, 2 on
    bad input."""

    dataset = List(Unicode(), help="A signed BagIt bag pinning inputs (repeatable).").tag(
        config=True
    )
    rtol = Float(0.0, help="Relative tolerance for numbers in text outputs.").tag(config=True)
    atol = Float(0.0, help="Absolute tolerance for numbers in text outputs.").tag(config=True)
    format = Enum(["text", "json", "junit"], default_value="text", help="Report format.").tag(
        config=True
    )
    timeout = Integer(600, help="Seconds a cell may run.").tag(config=True)
    kernel = Unicode("", help="Kernel name (default: the notebook's).").tag(config=True)
    allowed_signers = Unicode("", help="allowed_signers for the datasets' signatures.").tag(
        config=True
    )
    attest = Unicode("", help="Write a signed reproduction attestation (DSSE) here.").tag(
        config=True
    )
    key = Unicode("", help="With --attest: the SSH key (default: [signing] key).").tag(config=True)
    in_place = Bool(False, help="Run in the notebook's folder, not a scratch copy.").tag(
        config=True
    )
    store = Unicode(
        "",
        help="The provenance store of the recorded run, for the full list of its packages "
        "(default: your own store, when it has the run's environment record).",
    ).tag(config=True)
    pass_env = List(
        Unicode(),
        help="An environment variable the re-run's kernel keeps although it looks like a "
        "credential (repeatable).",
    ).tag(config=True)
    flags = {
        "in-place": (
            {"ReproduceApp": {"in_place": True}},
            "Run in the notebook's folder (files it writes change there).",
        )
    }
    aliases = {
        "dataset": "ReproduceApp.dataset",
        "rtol": "ReproduceApp.rtol",
        "atol": "ReproduceApp.atol",
        "format": "ReproduceApp.format",
        "timeout": "ReproduceApp.timeout",
        "kernel": "ReproduceApp.kernel",
        "allowed-signers": "ReproduceApp.allowed_signers",
        "attest": "ReproduceApp.attest",
        "key": "ReproduceApp.key",
        "store": "ReproduceApp.store",
        "pass-env": "ReproduceApp.pass_env",
    }

    def _verified_bags(self) -> list[tuple[Path, str]]:
        """Each ``--dataset`` bag, verified in full and signed as the policy requires, with
        the SHA-256 of its tag manifest as it was verified (before the notebook runs)."""
        from ..reproduce.hashing import AlgorithmUnavailable
        from ..reproduce.manifest import ManifestError, read_tag_file, verify_manifest
        from ..reproduce.signatures import check_signatures, signed_algorithm
        from ..signing.allowed_signers import AllowedSignersError, load_allowed_signers

        settings = _signing_service().settings
        signers_file = (
            Path(self.allowed_signers) if self.allowed_signers else settings.allowed_signers
        )
        bags = []
        for name in self.dataset:
            bag = Path(name)
            try:
                signers = load_allowed_signers(signers_file) if signers_file else None
                check = verify_manifest(bag, algorithm=signed_algorithm(bag))
                report = check_signatures(
                    bag,
                    check.algorithm,
                    signers,
                    revoked_keys=settings.revoked_keys,
                    require=settings.require,
                )
            except (ManifestError, AlgorithmUnavailable, AllowedSignersError) as error:
                raise UsageError(str(error)) from None
            if check.algorithm != "sha256":
                raise UsageError(f"{bag}: provenance records SHA-256; make the bag with sha256")
            if not check.intact or not report.meets_policy:
                raise UsageError(
                    f"{bag}: the dataset does not verify ({report.message}); "
                    "run `jupyter qsecure manifest verify` on it"
                )
            try:
                tag = read_tag_file(bag / "tagmanifest-sha256.txt")
            except OSError as error:
                raise UsageError(f"{bag}: cannot read its tag manifest ({error})") from None
            bags.append((bag, hashlib.sha256(tag).hexdigest()))
        return bags

    def run(self) -> int:
        if not self.extra_args:
            raise UsageError("name a notebook: jupyter qsecure reproduce NOTEBOOK")
        for option, value in (("rtol", self.rtol), ("atol", self.atol)):
            if not math.isfinite(value) or value < 0:
                raise UsageError(f"--{option} takes a finite number, 0 or more (not {value})")
        if len(self.extra_args) > 1:
            if self.attest or self.format != "text":
                raise UsageError(
                    "--attest, --format json and --format junit take one notebook; "
                    "run once per notebook"
                )
            return self._run_each([Path(name) for name in self.extra_args])
        path = Path(self.extra_args[0])
        key = None
        if self.attest:
            key = Path(self.key) if self.key else _signing_service().settings.key
            if key is None:
                raise UsageError("--attest needs --key PATH (or [signing] key) to sign with")
            check_output(self.attest, "--attest", source=path)
        bags = self._verified_bags()
        result = self._reproduce(path, self._pinned(bags), self._store())
        code = 0 if result.reproduced else 1
        if self.attest and key is not None:
            code = max(code, self._write_attestation(path, result, bags, key))
        if self.format == "json":
            print(json.dumps({**result.to_json(), "exit_code": code}, indent=2))
        elif self.format == "junit":
            print(_junit(result))
        else:
            _print_text(result)
        return code

    def _run_each(self, paths: list[Path]) -> int:
        """Several notebooks (as a pre-commit hook passes them), one after another: each
        report in turn, the exit code the worst of theirs (a notebook that cannot be
        reproduced at all is reported and counts as 2; the others still run)."""
        # The bags are read once, as verified: a notebook's code may write them meanwhile.
        bags, store = self._pinned(self._verified_bags()), self._store()
        code = 0
        for path in paths:
            try:
                result = self._reproduce(path, bags, store)
            except UsageError as error:
                print(f"{shown_path(path)}: {error}", file=sys.stderr)
                code = 2
                continue
            _print_text(result)
            code = max(code, 0 if result.reproduced else 1)
        return code

    @staticmethod
    def _pinned(bags: list[tuple[Path, str]]) -> tuple[list[Path], dict[str, str]]:
        """The verified bags and the digests they list, read now (before any run)."""
        from ..reproduce.bagit import BagFormatError
        from ..reproduce.inputs import manifest_digests

        paths = [bag for bag, _ in bags]
        try:
            return paths, manifest_digests(paths)
        except (OSError, UnicodeDecodeError, BagFormatError) as error:
            raise UsageError(f"cannot read a dataset's manifest: {error}") from None

    def _reproduce(
        self, path: Path, bags: tuple[list[Path], dict[str, str]], store: Path | None
    ) -> Any:
        from ..reproduce.rerun import ReproduceError, reproduce

        try:
            return reproduce(
                path,
                bags=bags[0],
                pinned=bags[1],
                rtol=self.rtol,
                atol=self.atol,
                timeout=self.timeout,
                kernel_name=self.kernel or None,
                in_place=self.in_place,
                store=store,
                pass_env=tuple(self.pass_env),
            )
        except ReproduceError as error:
            raise UsageError(str(error)) from None

    def _store(self) -> Path | None:
        """The provenance store to read the recorded run's full package list from."""
        from ..identity import server_user
        from ..provenance.kernel import default_store_path

        if not self.store:
            return default_store_path(server_user())
        store = Path(self.store)
        if not store.is_file():
            raise UsageError(
                f"{store}: no provenance store there; --store names the recorded run's "
                "store file (yours is qsecure/provenance-USER.sqlite in `jupyter --data-dir`)"
            )
        return store

    def _write_attestation(
        self, path: Path, result: Any, bags: list[tuple[Path, str]], key: Path
    ) -> int:
        """Sign what was checked and compared: the notebook as read before the run and the
        tag manifests as verified, never the files as they are after the notebook ran."""
        import sys

        from ..reproduce.attest import reproduction_statement
        from ..signing.canonical import CanonicalFormError
        from ..signing.dsse import sign_envelope
        from ..signing.sshsig import SignatureError

        datasets = [{"name": bag.name, "digest": {"sha256": digest}} for bag, digest in bags]
        try:
            statement = reproduction_statement(
                result.original,
                str(path),
                result,
                datasets=datasets,
                tolerance={"rtol": self.rtol, "atol": self.atol},
            )
        except CanonicalFormError as error:
            raise UsageError(
                f"{shown_path(path)}: cannot be attested, it has no digest: {error}"
            ) from None
        try:
            envelope = sign_envelope(statement, key)
        except SignatureError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        write_output(self.attest, json.dumps(envelope, indent=2) + "\n", "--attest", source=path)
        print(f"signed reproduction attestation: {self.attest}", file=sys.stderr)
        return 0


def _print_text(result: Any) -> None:
    """The text report. What comes from the notebook or its outputs (ids, paths, a diff of
    outputs) is shown with control characters escaped: an escape sequence in a cell id or
    an output must not rewrite the verdict on the reader's terminal."""
    from .._shown import shown

    verdict = "REPRODUCED" if result.reproduced else "NOT reproduced"
    print(f"{result.notebook}: {verdict}")
    for item in result.inputs:
        print(f"  input {shown(str(item['path']))}: {item['state']} ({shown(str(item['detail']))})")
    for drift in result.environment:
        print(f"  environment: {shown(str(drift))}")
    for seed in result.seeds:
        print(f"  seed: {shown(str(seed))}")
    withheld = getattr(result, "withheld_environment", [])
    if withheld:
        names = ", ".join(withheld)
        print(f"  kept from the re-run (credentials; --pass-env NAME to give one): {names}")
    for cell in result.cells:
        detail = f" - {shown(str(cell.detail), _LINE)}" if cell.detail else ""
        print(f"  cell {cell.number} ({shown(str(cell.cell_id))}): {cell.result}{detail}")
        if cell.diff and cell.result != "reproduced":
            for line in cell.diff.splitlines():
                print(f"      {shown(line, _LINE)}")


#: The most characters of a line of a diff or a detail the text report shows.
_LINE = 2000


def _junit(result: Any) -> str:
    suite = ElementTree.Element(
        "testsuite", name=result.notebook, tests=str(len(result.cells) + len(result.inputs))
    )
    failures = 0
    for item in result.inputs:
        case = ElementTree.SubElement(suite, "testcase", classname="inputs", name=item["path"])
        if item["state"] in ("changed", "missing"):
            failures += 1
            ElementTree.SubElement(case, "failure", message=f"{item['state']}: {item['detail']}")
    for cell in result.cells:
        case = ElementTree.SubElement(
            suite, "testcase", classname="cells", name=f"cell {cell.number} ({cell.cell_id})"
        )
        if cell.result in ("differs", "not recorded"):
            failures += 1
            failure = ElementTree.SubElement(case, "failure", message=cell.result)
            failure.text = cell.diff or cell.detail
    suite.set("failures", str(failures))
    return ElementTree.tostring(suite, encoding="unicode")
