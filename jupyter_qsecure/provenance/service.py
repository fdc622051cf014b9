"""What the server does with provenance: the save hook, embedding before a signature,
and the provenance panel's report. One store per server, the policy's or the default of
the user the server runs for (its kernels write there)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..identity import server_user
from .embed import ProvenanceSaveHook, Redact, absolute_path
from .kernel import default_store_path
from .policy import ProvenancePolicy
from .report import provenance_report
from .store import ProvenanceStore

if TYPE_CHECKING:
    from .checkpoint import Checkpointer

#: How long the panel's report may take (seconds); its file re-hashing stops earlier.
REPORT_SECONDS = 20.0


class ProvenanceService:
    """Provenance under one ``[provenance]`` policy, for notebooks under ``root_dir``.

    ``store_class`` builds the store from its path (a ``Type`` trait of the server app)."""

    def __init__(
        self,
        policy: ProvenancePolicy,
        root_dir: Path,
        store_class: type[ProvenanceStore] = ProvenanceStore,
    ) -> None:
        self.policy = policy
        self.root_dir = root_dir
        self.store_path = policy.store or default_store_path(server_user())
        self.store_class = store_class
        #: The time limit of :meth:`report` (the handler stops waiting after it).
        self.report_seconds = REPORT_SECONDS
        self._checkpointer: Checkpointer | None = None
        #: Masks credentials in what is embedded (set by the app: the guard's redact).
        self.redact: Redact | None = None

    @property
    def enabled(self) -> bool:
        """Whether executions are recorded and embedded (``[provenance] enabled``)."""
        return self.policy.enabled

    def store(self) -> ProvenanceStore:
        """The store the server's kernels record into."""
        return self.store_class(self.store_path)

    def checkpointer(self) -> Checkpointer:
        """Signs checkpoints of the store's chain with the server's key (see
        :mod:`.checkpoint`); one per service, so saves append each new one once."""
        if self._checkpointer is None:
            from .checkpoint import Checkpointer

            self._checkpointer = Checkpointer(self.store())
        return self._checkpointer

    def checkpoint(self) -> str:
        """Sign and append a checkpoint of the store's chain now (on demand), once the
        chain is checked (:meth:`.Checkpointer.verified_checkpoint`)."""
        return self.checkpointer().verified_checkpoint()

    def save_hook(self) -> ProvenanceSaveHook:
        """The pre-save hook that embeds a notebook's records into every save of it, with
        a signed checkpoint of the store's chain."""
        return ProvenanceSaveHook(
            self.store(),
            self.policy.timeline_limit,
            self.root_dir,
            self.checkpointer(),
            self.redact,
        )

    def hold_saves(self, contents_manager: Any, kernel_manager: Any, session_manager: Any) -> None:
        """Make every save of a notebook wait (bounded) until the kernels running for it
        have stored the records of the executions that finished before the save: see
        :mod:`.barrier`."""
        from .barrier import SaveBarrier, hold_saves

        self.barrier = SaveBarrier(kernel_manager, session_manager)
        hold_saves(contents_manager, self.barrier)

    def embed(self, notebook: dict[str, Any], path: str) -> None:
        """Embed provenance into ``notebook`` as a save of ``path`` would (so that a
        signature made before the save covers it)."""
        if self.enabled:
            self.save_hook()({"type": "notebook", "content": notebook}, path)

    def report(self, notebook: dict[str, Any], path: str) -> dict[str, Any]:
        """The provenance panel's report: ``notebook`` with its records embedded into a
        copy, as a save would, judged cell by cell. Raises ValueError for content that has
        no canonical form."""
        store = self.store() if self.enabled else None
        # A read creates no store: without one there is nothing to embed.
        records = (
            store.for_notebook(path, absolute_path(self.root_dir, path))
            if store is not None and store.path.exists()
            else None
        )
        folder = self.root_dir / PurePosixPath(path).parent
        return provenance_report(
            notebook,
            path,
            folder,
            records,
            self.policy.timeline_limit,
            rehash_seconds=self.report_seconds / 2,
            redact=self.redact,
        )
