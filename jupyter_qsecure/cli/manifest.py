"""``jupyter qsecure manifest create|sign|verify``: signed BagIt manifests of datasets."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import Bool, Enum, Integer, Unicode

from .._version import __version__
from .base import UsageError, _signing_service, _Subcommand

INTERRUPTED = 130


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A byte progress bar with an ETA on standard error when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    import shutil

    from tqdm import tqdm  # type: ignore[import-untyped]

    bar = tqdm(
        total=0,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        # A terminal that reports no size (0 x 0) gets 80 x 24 instead of no bar at all.
        ncols=shutil.get_terminal_size().columns,
        nrows=shutil.get_terminal_size().lines,
    )

    def show(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)
        if done >= total:
            bar.refresh()

    try:
        yield show
    finally:
        bar.close()


def _problems(problems: list[Any]) -> None:
    from .._shown import shown
    from ..reproduce.tree import display

    for problem in problems:
        # A reason can quote a name too (an object's key in a store's error).
        print(f"  {display(problem.path)}: {shown(problem.reason, 2000)}", file=sys.stderr)


def _workers(jobs: int) -> int | None:
    """The hashing threads ``--jobs`` asks for: None (every core) for 0."""
    if jobs < 0:
        raise UsageError(f"--jobs: expected a number of threads, or 0 for every core; got {jobs}")
    return jobs or None


class ManifestCreateApp(_Subcommand):
    """Make a BagIt manifest of every file of a folder."""

    name = "jupyter-qsecure-manifest-create"
    description = """Make a BagIt manifest (RFC 8493) of every file under DIR: streamed, hashed on all cores, resumable.

    jupyter qsecure manifest create DIR|URL [--out BAG] [--algorithm sha256|sha512|blake3] [--in-place]
    Detached by default: DIR is not touched and the bag is written beside it (DIR.bag, or
    --out), holding the tag files and a link to DIR. A URL (s3://bucket/prefix, gs://...,
    file://...) names data in an object store: the bag (--out, default NAME.bag here)
    holds the tag files and names the URL in bag-info.txt (Payload-Location). --in-place moves DIR's content into
    DIR/data and writes the tag files in DIR. Exit 0 written, 2 bad input or files that
    could not be read (named; the rest is kept for the next run), 130 interrupted (run
    the same command again to resume)."""

    out = Unicode("", help="The bag's folder (default: DIR.bag beside DIR).").tag(config=True)
    algorithm = Enum(["sha256", "sha512", "blake3"], default_value="sha256", help="Digest.").tag(
        config=True
    )
    in_place = Bool(False, help="Make DIR itself the bag (its content moves to DIR/data).").tag(
        config=True
    )
    dataset_name = Unicode(
        "", help="The dataset's name in bag-info.txt (default: DIR's name)."
    ).tag(config=True)
    jobs = Integer(0, help="Hashing threads (default: every core).").tag(config=True)
    aliases = {
        "out": "ManifestCreateApp.out",
        "algorithm": "ManifestCreateApp.algorithm",
        "name": "ManifestCreateApp.dataset_name",
        "jobs": "ManifestCreateApp.jobs",
    }
    flags = {
        "in-place": ({"ManifestCreateApp": {"in_place": True}}, "Make DIR itself the bag."),
    }

    def run(self) -> int:
        from ..reproduce.hashing import AlgorithmUnavailable
        from ..reproduce.manifest import ManifestError, create_manifest

        if len(self.extra_args) != 1:
            raise UsageError("name one folder or URL: jupyter qsecure manifest create DIR|URL")
        if self.in_place and self.out:
            raise UsageError("--in-place makes DIR the bag: it takes no --out")
        data = self.extra_args[0]
        try:
            with _progress_bar("hashing") as show:
                result = create_manifest(
                    data,
                    algorithm=self.algorithm,
                    out=Path(self.out) if self.out else None,
                    in_place=self.in_place,
                    name=self.dataset_name or None,
                    workers=_workers(self.jobs),
                    on_progress=show,
                )
        except (ManifestError, AlgorithmUnavailable) as error:
            raise UsageError(str(error)) from None
        except OSError as error:
            raise UsageError(f"{error.filename or data}: {error.strerror or error}") from None
        except KeyboardInterrupt:
            print(
                "interrupted: the files hashed so far are kept; run the same command again to resume",
                file=sys.stderr,
            )
            return INTERRUPTED
        resumed = f" ({result.resumed} taken from the interrupted run)" if result.resumed else ""
        if result.problems:
            print(
                f"{data}: {len(result.problems)} file(s) could not be put in the manifest; "
                "no manifest written:",
                file=sys.stderr,
            )
            _problems(result.problems)
            print(
                f"{result.files} file(s) hashed{resumed} are kept: fix or remove the files "
                "above and run the same command again to finish",
                file=sys.stderr,
            )
            return 2
        state = "unchanged" if result.unchanged else "written"
        print(
            f"{result.bag}: manifest-{result.algorithm}.txt {state}: {result.files} file(s), "
            f"{result.octets} bytes{resumed}"
        )
        if result.signatures_removed:
            print(
                f"{result.signatures_removed} signature(s) of the previous manifest removed: "
                "sign it again with `jupyter qsecure manifest sign`"
            )
        return 0


class ManifestSignApp(_Subcommand):
    """Sign a bag's tag manifest with an SSH key."""

    name = "jupyter-qsecure-manifest-sign"
    description = """Sign a bag's tag manifest (SSHSIG, namespace dataset@jupyter-qsecure) with an SSH key.

    jupyter qsecure manifest sign BAG [--key PATH]
    --key: a private key file, or a .pub whose private half is in ssh-agent (default:
    [signing] key). The signature is BAG/qsecure-signatures/<alg>-<key>.sig."""

    key = Unicode("", help="SSH key to sign with (default: [signing] key).").tag(config=True)
    aliases = {"key": "ManifestSignApp.key"}

    def run(self) -> int:
        from ..reproduce.hashing import AlgorithmUnavailable
        from ..reproduce.manifest import ManifestError, bag_algorithm, verify_manifest
        from ..reproduce.signatures import NAMESPACE, sign_bag
        from ..signing.sshsig import SignatureError

        if len(self.extra_args) != 1:
            raise UsageError("name one bag: jupyter qsecure manifest sign BAG --key PATH")
        bag = Path(self.extra_args[0])
        key = Path(self.key) if self.key else _signing_service().settings.key
        if key is None:
            raise UsageError(
                "no signing key: pass --key PATH (a private key, or a .pub whose key is in ssh-agent) or set [signing] key"
            )
        try:
            algorithm = bag_algorithm(bag)
            check = verify_manifest(bag, quick=True, algorithm=algorithm)
        except (ManifestError, AlgorithmUnavailable) as error:
            raise UsageError(str(error)) from None
        if not check.intact:
            print(
                f"{bag}: the data does not match the manifest; not signed "
                "(`jupyter qsecure manifest verify` says what differs)",
                file=sys.stderr,
            )
            return 1
        try:
            path, fingerprint = sign_bag(bag, key, algorithm)
        except ManifestError as error:
            raise UsageError(str(error)) from None
        except SignatureError as error:
            print(f"jupyter qsecure: error: {error}", file=sys.stderr)
            return 1
        print(f"signed {bag}/tagmanifest-{algorithm}.txt with {fingerprint}: {path}")
        print(
            f"  check with OpenSSH: ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL "
            f"-n {NAMESPACE} -s {path} < {bag}/tagmanifest-{algorithm}.txt"
        )
        return 0


class ManifestVerifyApp(_Subcommand):
    """Check a bag's data against its manifest and its signatures."""

    name = "jupyter-qsecure-manifest-verify"
    description = """Check every file of a bag against its manifest, and its signatures against allowed_signers.

    jupyter qsecure manifest verify BAG|URL [--quick] [--allowed-signers FILE] [--require N] [--format text|json]
    Reports files added, removed, changed and renamed by path. A bag of data in an object
    store checks the objects its bag-info.txt names; a URL names a bag kept in a store. --quick trusts, for files
    whose size, mtime, ctime and inode are unchanged, the digest from this machine's last
    full hash (and says so). --require 0 checks the data without requiring a signature.
    Exit 0 intact and signed as the policy requires, 1 not, 2 bad input or unreadable files."""

    quick = Bool(False, help="Trust unchanged files' digests from the local cache.").tag(
        config=True
    )
    allowed_signers = Unicode("", help="allowed_signers file (default: [signing]).").tag(
        config=True
    )
    require = Integer(-1, help="Trusted signatures required (default: [signing] require).").tag(
        config=True
    )
    format = Enum(["text", "json"], default_value="text", help="Report format.").tag(config=True)
    jobs = Integer(0, help="Hashing threads (default: every core).").tag(config=True)
    aliases = {
        "allowed-signers": "ManifestVerifyApp.allowed_signers",
        "require": "ManifestVerifyApp.require",
        "format": "ManifestVerifyApp.format",
        "jobs": "ManifestVerifyApp.jobs",
    }
    flags = {
        "quick": (
            {"ManifestVerifyApp": {"quick": True}},
            "Trust size, mtime, ctime and inode from the local cache.",
        )
    }

    def run(self) -> int:
        from ..reproduce.manifest import ManifestError, opened_bag

        if len(self.extra_args) != 1:
            raise UsageError("name one bag: jupyter qsecure manifest verify BAG|URL")
        where = self.extra_args[0]
        try:
            with opened_bag(where) as (bag, payload_url):
                return self._verify(where, bag, payload_url)
        except ManifestError as error:
            raise UsageError(str(error)) from None

    def _verify(self, where: str, bag: Path, payload_url: str | None) -> int:
        from ..reproduce.hashing import AlgorithmUnavailable
        from ..reproduce.manifest import ManifestError, verify_manifest
        from ..reproduce.signatures import check_signatures, signed_algorithm
        from ..signing.allowed_signers import AllowedSignersError, load_allowed_signers

        settings = _signing_service().settings
        signers_file = (
            Path(self.allowed_signers) if self.allowed_signers else settings.allowed_signers
        )
        require = self.require if self.require >= 0 else settings.require
        try:
            signers = load_allowed_signers(signers_file) if signers_file else None
        except AllowedSignersError as error:
            raise UsageError(str(error)) from None
        try:
            with _progress_bar("verifying") as show:
                result = verify_manifest(
                    bag,
                    quick=self.quick,
                    algorithm=signed_algorithm(bag),
                    workers=_workers(self.jobs),
                    on_progress=show,
                    payload_url=payload_url,
                )
        except (ManifestError, AlgorithmUnavailable) as error:
            raise UsageError(str(error)) from None
        except KeyboardInterrupt:
            print(
                "interrupted: the files checked so far are kept; run the same command again to resume",
                file=sys.stderr,
            )
            return INTERRUPTED
        try:
            report = check_signatures(
                bag, result.algorithm, signers, revoked_keys=settings.revoked_keys, require=require
            )
        except AllowedSignersError as error:
            raise UsageError(str(error)) from None
        code = 2 if result.problems else 0 if result.intact and report.meets_policy else 1
        if self.format == "json":
            print(json.dumps(_as_json(where, result, report, code), indent=2))
        else:
            _print_text(where, result, report)
        return code


def _as_json(where: str, result: Any, report: Any, code: int) -> dict[str, Any]:
    return {
        "bag": where,
        "location": result.location,
        "algorithm": result.algorithm,
        "intact": result.intact,
        "files": result.files,
        "added": result.added,
        "removed": result.removed,
        "changed": result.changed,
        "renamed": [{"from": old, "to": new} for old, new in result.renamed],
        "tag_problems": result.tag_problems,
        "unreadable": [{"path": p.path, "reason": p.reason} for p in result.problems],
        "quick": result.quick,
        "trusted_from_cache": result.from_cache,
        "resumed": result.resumed,
        "signatures": [vars(s) | {"principals": list(s.principals)} for s in report.signatures],
        "meets_policy": report.meets_policy,
        "policy": report.message,
        "exit_code": code,
    }


def _print_text(where: str, result: Any, report: Any) -> None:
    """The text report. Every name it takes from the bag (paths, tag files, signature
    files, the data's location, reasons quoting them) is shown with control characters
    escaped: the bag's author chose them, and raw, an escape sequence rewrote the verdict
    on the reader's terminal."""
    from .._shown import shown
    from ..reproduce.tree import display

    verdict = "intact" if result.intact else "DOES NOT MATCH its manifest"
    print(f"{display(where)}: {result.files} file(s) in manifest-{result.algorithm}.txt: {verdict}")
    if result.location:
        print(f"  data: {shown(str(result.location), _LINE)}")
    if result.quick:
        print(
            f"  --quick: {result.from_cache} file(s) trusted from the local cache (size, mtime, "
            "ctime and inode unchanged since last hashed here), not read again"
        )
    if result.resumed:
        print(f"  resumed: {result.resumed} file(s) taken from the interrupted run")
    for title, paths in (
        ("changed", result.changed),
        ("removed", result.removed),
        ("added", result.added),
    ):
        for path in paths:
            print(f"  {title}: {display(path)}")
    for old, new in result.renamed:
        print(f"  renamed: {display(old)} -> {display(new)}")
    for problem in result.tag_problems:
        print(f"  tag file: {shown(str(problem), _LINE)}")
    if result.problems:
        print(f"  {len(result.problems)} file(s) could not be checked:", file=sys.stderr)
        _problems(result.problems)
    print(
        f"signatures: {report.message}; {'meets the policy' if report.meets_policy else 'does NOT meet the policy'}"
    )
    for signature in report.signatures:
        state = "valid" if signature.valid else "INVALID"
        trusted = "trusted" if signature.trusted else "not trusted"
        print(
            f"  {shown(str(signature.file), _LINE)} {signature.fingerprint}: {state}, "
            f"{trusted} - {shown(str(signature.reason), _LINE)}"
        )


#: The most characters of one name or reason the text report shows.
_LINE = 2000


class ManifestApp(JupyterApp):
    """``jupyter qsecure manifest create|sign|verify``."""

    name = "jupyter-qsecure-manifest"
    version = __version__
    description = "Signed BagIt manifests of datasets: create DIR, sign BAG, verify BAG."
    subcommands = {
        "create": (ManifestCreateApp, ManifestCreateApp.description.splitlines()[0]),
        "sign": (ManifestSignApp, ManifestSignApp.description.splitlines()[0]),
        "verify": (ManifestVerifyApp, ManifestVerifyApp.description.splitlines()[0]),
    }
