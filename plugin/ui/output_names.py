"""Names for results whose "Save to" field is left empty: new files in a lasting folder (the
results folder, or the user's models folder for trained models), never temporary files."""
from __future__ import annotations

import re
from pathlib import Path


def safe_stem(text: str) -> str:
    """`text` as a file-name stem: letters (accented too), digits, "-" and "_" kept, any run
    of other characters as one "_"."""
    return re.sub(r"[^\w\-]+", "_", text).strip("_") or "result"


def automatic_output(folder: Path, hint: str, tool: str, extension: str) -> Path:
    """A new file name in `folder` (created): `<hint>_<tool>.<extension>`, numbered `_2`, `_3`,
    ... while any file of that stem exists (so sidecars such as a report's .json stay paired)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{safe_stem(hint)}_{safe_stem(tool)}" if hint else safe_stem(tool)
    candidate, number = stem, 2
    while any(folder.glob(f"{candidate}.*")):
        candidate, number = f"{stem}_{number}", number + 1
    return folder / f"{candidate}.{extension}"
