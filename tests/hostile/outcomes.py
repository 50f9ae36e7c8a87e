"""What a hostile case may end in: a correct result, or a clear error that leaves every file as
it was. Helpers shared by the hostile tests."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from qgis import processing
from qgis.core import QgsProcessingException, QgsProcessingFeedback


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback keeping what the algorithm told the user, by kind; it can cancel on demand."""

    def __init__(self, cancel_after_progress: float | None = None):
        super().__init__()
        self.infos, self.warnings, self.debug = [], [], []
        self.cancel_after_progress = cancel_after_progress
        self.progressChanged.connect(self._progress)

    def _progress(self, value):
        if self.cancel_after_progress is not None and value >= self.cancel_after_progress:
            self.cancel()

    def pushInfo(self, text):  # noqa: N802 (QGIS API)
        self.infos.append(text)

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)

    def pushDebugInfo(self, text):  # noqa: N802
        self.debug.append(text)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative name -> sha256), to compare before and after a run."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def refused(algorithm: str, params: dict, *fragments: str, folder: Path | None = None,
            feedback: QgsProcessingFeedback | None = None) -> str:
    """Run `algorithm`, expect a QgsProcessingException whose message holds every fragment and
    no traceback text, and (with `folder`) no file there added, removed or changed."""
    before = snapshot(folder) if folder is not None else None
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(algorithm, params, feedback=feedback or RecordingFeedback())
    # QGIS's own check of the parameters (ranges, GeoDistill's checkParameterValues) is
    # reported under this heading line
    message = str(raised.value).removeprefix("Unable to execute algorithm\n")
    assert "Traceback" not in message and 'File "' not in message, message
    assert "\n" not in message.strip(), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if folder is not None:
        assert snapshot(folder) == before
    return message


def run(algorithm: str, params: dict, feedback: QgsProcessingFeedback | None = None) -> dict:
    """Run `algorithm` and return its results."""
    return processing.run(algorithm, params, feedback=feedback or RecordingFeedback())
