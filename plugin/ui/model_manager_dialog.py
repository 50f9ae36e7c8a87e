"""GeoDistill > Model manager: list, import and remove model packages, and show their cards.

Imports are validated before they are copied: the package is loaded completely (its weights
checked against the sha256 in its card, never unpickled) and its net built, so a tampered or
unknown file is refused with the reason and nothing lands in the user folder.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from .. import settings
from .model_picker import card_html, list_models
from ..translation import tr as _tr
from .dialog_frame import frame_dialog


def _package_files(path: Path) -> list[Path]:
    """Every file of the package at `path`: its `.safetensors` and/or `.onnx` and ONNX parts."""
    return sorted(p for p in path.parent.glob(f"{path.stem}.*")
                  if p.suffix in (".safetensors", ".onnx") and p.name.split(".")[0] == path.stem)


def import_package(source: str | Path, user_folder: str | Path, replace: bool = False) -> Path:
    """Validate a `.safetensors` or `.onnx` package and copy it into `user_folder`; returns the
    new path. A `.safetensors` is converted to `.onnx` beside its copy (needs torch).

    Raises models.errors.PackageError (tampered, not a package, unknown architecture, torch
    missing for a conversion) or FileExistsError (a user model of that name exists and
    `replace` is False).
    """
    from ...models.errors import PackageError
    from ...models.runtime.backends import torch_installed
    from ...models.runtime.onnx_file import load_onnx_package

    source = Path(source)
    if source.suffix == ".onnx":
        files = [source, *(source.with_name(f"{source.stem}.{part}.onnx")
                           for part in load_onnx_package(source).parts)]
    elif source.suffix == ".safetensors":
        if not torch_installed():
            raise PackageError(f"{source.name} holds weights that are converted to ONNX on "
                               f"import, which needs torch: install the 'Train models' pack, "
                               f"or import the model's .onnx file.")
        from ...models.package import load_model

        load_model(source, "cpu")
        files = [source]
    else:
        raise PackageError(f"{source.name} is not a model package (.onnx or .safetensors); "
                           f"export .pt checkpoints with a card first.")
    target = Path(user_folder) / source.name
    if target.exists() and not replace:
        raise FileExistsError(f"A user model named {source.stem} already exists.")
    for file in files:
        partial = target.with_name(f".{file.name}.partial")
        shutil.copyfile(file, partial)
        partial.replace(target.with_name(file.name))
    if target.suffix == ".safetensors":
        from ...models.onnx_export import export_package

        export_package(target)
    return target


def remove_package(path: str | Path, user_folder: str | Path) -> None:
    """Delete a user package, every file of it (bundled ones cannot be removed)."""
    path = Path(path).resolve()
    if path.parent != Path(user_folder).resolve():
        raise PermissionError(f"{path.name} is bundled with GeoDistill and cannot be removed.")
    for file in _package_files(path):
        file.unlink()


class ModelManagerDialog(QDialog):
    """Model packages (bundled and user) with their cards; Import and Remove buttons."""

    def __init__(self, parent=None):
        super().__init__(parent)
        frame_dialog(self, _tr("model manager"), "GeoDistillModelManager", 820, 480)
        self.entries = []
        layout = QVBoxLayout(self)
        self.folder_label = QLabel(self)
        layout.addWidget(self.folder_label)
        row = QHBoxLayout()
        self.list = QListWidget(self)
        self.card = QLabel(self)
        self.card.setWordWrap(True)
        self.card.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.list, 1)
        row.addWidget(self.card, 2)
        layout.addLayout(row, 1)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.import_button = QPushButton(_tr("Import…"), self)
        self.remove_button = QPushButton(_tr("Remove"), self)
        buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.list.currentRowChanged.connect(self._show_card)
        self.import_button.clicked.connect(self._choose_and_import)
        self.remove_button.clicked.connect(self._confirm_and_remove)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the bundled and user folders."""
        folder = settings.user_model_folder()
        self.folder_label.setText(_tr("User models folder: {folder}").format(folder=folder))
        self.list.clear()
        listing = list_models(None)
        self.entries = listing[0] if listing is not None else []
        if listing is None:
            self.status.setText(_tr("Install the dependencies (GeoDistill > Install dependencies) "
                                    "to read model packages."))
        for entry in self.entries:
            item = QListWidgetItem(f"{entry.name}  [{entry.card.task}, {entry.source}]")
            self.list.addItem(item)
        if self.entries:
            self.list.setCurrentRow(0)
        self._show_card(self.list.currentRow())

    def current_entry(self):
        """The selected package entry, or None."""
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _show_card(self, _row: int) -> None:
        entry = self.current_entry()
        self.card.setText(card_html(entry.card, f"{entry.source}: {entry.path}") if entry else "")
        self.remove_button.setEnabled(entry is not None and entry.source == "user")

    def import_file(self, path: str | Path, replace: bool = False) -> bool:
        """Import one file, saying in the dialog what happened; True when it was imported."""
        from ...models.errors import GeoDistillError

        try:
            target = import_package(path, settings.user_model_folder(), replace=replace)
        except (GeoDistillError, FileExistsError, OSError) as error:
            self.status.setText(_tr("Refused: {reason}").format(reason=error))
            self.status.setStyleSheet("color: #b00020;")
            return False
        self.status.setText(_tr("Imported {name} into {folder}.").format(name=target.stem, folder=target.parent))
        self.status.setStyleSheet("")
        self.refresh()
        paths = [entry.path for entry in self.entries]
        if target in paths:
            self.list.setCurrentRow(paths.index(target))
        return True

    def remove_current(self) -> bool:
        """Remove the selected user package; True when it was removed."""
        entry = self.current_entry()
        if entry is None or entry.source != "user":
            return False
        remove_package(entry.path, settings.user_model_folder())
        self.status.setText(_tr("Removed {name}.").format(name=entry.name))
        self.refresh()
        return True

    def _choose_and_import(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, _tr("Import a model package"), "",
                                                    _tr("Model package (*.onnx *.safetensors)"))
        if not path:
            return
        target = settings.user_model_folder() / Path(path).name
        replace = target.exists() and QMessageBox.question(
            self, _tr("Replace model"), _tr("Replace the user model {name}?").format(name=target.stem)
        ) == QMessageBox.StandardButton.Yes
        self.import_file(path, replace=replace)

    def _confirm_and_remove(self) -> None:
        entry = self.current_entry()
        if entry is not None and QMessageBox.question(
                self, _tr("Remove model"), _tr("Delete {path}?").format(path=entry.path)
        ) == QMessageBox.StandardButton.Yes:
            self.remove_current()
