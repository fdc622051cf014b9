"""The recorder keeps a cell's consecutive writes to one stream as one output (as a
notebook saves them), and its outputs digest is that of the outputs as sent."""

from __future__ import annotations

from pathlib import Path

from jupyter_qsecure.provenance.recorder import Execution, Recorder
from jupyter_qsecure.provenance.store import ProvenanceStore
from jupyter_qsecure.signing.canonical import outputs_digest


def _recorder(tmp_path: Path) -> Recorder:
    return Recorder(
        ProvenanceStore(tmp_path / "provenance.sqlite"),
        mask=lambda text: text,
        user="alice",
        notebook="run.ipynb",
        kernel_id=None,
        notebook_dir=tmp_path,
    )


def test_stream_writes_digest_as_the_outputs_sent(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    execution = Execution(record_id="r", cell_id=None, execution_count=1, code="", started=0.0)
    recorder._by_request["req"] = execution
    sent: list[tuple[str, dict[str, object]]] = []
    sent += [("stream", {"name": "stdout", "text": f"{i} shots\n"}) for i in range(1000)]
    sent += [
        ("stream", {"name": "stderr", "text": "warn"}),
        ("stream", {"name": "stderr", "text": "ing\n"}),
    ]
    sent += [("display_data", {"data": {"text/plain": "x"}, "metadata": {}})]
    sent += [
        ("stream", {"name": "stdout", "text": "50%\r"}),
        ("stream", {"name": "stdout", "text": "100%\n"}),
    ]
    for msg_type, content in sent:
        recorder.on_message(msg_type, content, "req")

    assert len(execution.outputs) == 4  # stdout, stderr, the display, stdout again
    expected = outputs_digest([{"output_type": t, **c} for t, c in sent])
    assert recorder._outputs_digest(execution) == expected


def test_clear_output_drops_the_open_stream(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    execution = Execution(record_id="r", cell_id=None, execution_count=1, code="", started=0.0)
    recorder._by_request["req"] = execution
    for text in ("a\n", "b\n"):
        recorder.on_message("stream", {"name": "stdout", "text": text}, "req")
    recorder.on_message("clear_output", {"wait": True}, "req")
    recorder.on_message("stream", {"name": "stdout", "text": "c\n"}, "req")
    recorder.on_message("stream", {"name": "stdout", "text": "d\n"}, "req")

    expected = outputs_digest([{"output_type": "stream", "name": "stdout", "text": "c\nd\n"}])
    assert recorder._outputs_digest(execution) == expected
