"""Model manager: import validates packages (tampered / unknown files are refused), remove, cards."""
import pytest
from qgis.core import QgsSettings

from geodistill.models import nets
from geodistill.models.package import ModelCard, save_package


@pytest.fixture
def user_folder(tmp_path, qgis_app):
    from geodistill.plugin import settings

    QgsSettings().remove(settings.PREFIX)
    folder = tmp_path / "user_models"
    settings.set_user_model_folder(folder)
    yield folder
    QgsSettings().remove(settings.PREFIX)


@pytest.fixture
def package(tmp_path):
    net = nets.build("pansharpen_lite", {"ms_bands": 4, "ratio": 4})
    card = ModelCard(name="shared_lite", task="pansharpening", architecture="pansharpen_lite",
                     config={"ms_bands": 4, "ratio": 4}, ratio=4, licence="CC BY 4.0",
                     classes=[{"id": 1, "name": "water", "color": "#1f78b4"}])
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    path = downloads / "shared_lite.safetensors"
    save_package(path, net.state_dict(), card)
    return path


@pytest.fixture
def dialog(user_folder, qtbot):
    from geodistill.plugin.ui.model_manager_dialog import ModelManagerDialog

    widget = ModelManagerDialog()
    qtbot.addWidget(widget)
    return widget


def names(dialog):
    return [(entry.name, entry.source) for entry in dialog.entries]


def test_lists_bundled_models_with_card(dialog):
    assert ("pansharpening_lite_4band_x4", "bundled") in names(dialog)
    dialog.list.setCurrentRow(names(dialog).index(("pansharpening_lite_4band_x4", "bundled")))
    assert "SpaceNet" in dialog.card.text() and "×4" in dialog.card.text()
    assert not dialog.remove_button.isEnabled()  # bundled models stay


def test_import_copies_a_valid_package_and_remove_deletes_it(dialog, package, user_folder):
    assert dialog.import_file(package)
    assert (user_folder / "shared_lite.safetensors").read_bytes() == package.read_bytes()
    from geodistill.models.runtime.onnx_file import read_onnx_card

    assert read_onnx_card(user_folder / "shared_lite.onnx").name == "shared_lite"  # converted
    assert ("shared_lite", "user") in names(dialog)
    dialog.list.setCurrentRow(names(dialog).index(("shared_lite", "user")))
    card = dialog.card.text()
    assert "CC BY 4.0" in card and "background-color:#1f78b4" in card and "water" in card
    assert not dialog.import_file(package)  # same name again: refused unless replacing
    assert "already exists" in dialog.status.text()
    assert dialog.import_file(package, replace=True)
    assert dialog.remove_current()
    assert list(user_folder.iterdir()) == []  # weights and graph
    assert ("shared_lite", "user") not in names(dialog)


def test_an_onnx_package_is_imported_with_its_parts(dialog, user_folder):
    from geodistill.models.registry import BUNDLED_FOLDER

    assert dialog.import_file(BUNDLED_FOLDER / "segmentation_landcover_lite.onnx")
    assert sorted(p.name for p in user_folder.iterdir()) == [
        "segmentation_landcover_lite.global.onnx", "segmentation_landcover_lite.onnx"]
    assert ("segmentation_landcover_lite", "user") in names(dialog)
    dialog.list.setCurrentRow(names(dialog).index(("segmentation_landcover_lite", "user")))
    assert dialog.remove_current() and list(user_folder.iterdir()) == []


def test_tampered_package_is_refused(dialog, package, user_folder):
    data = bytearray(package.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last tensor's bytes
    package.write_bytes(bytes(data))
    assert not dialog.import_file(package)
    assert "Refused:" in dialog.status.text() and "sha256" in dialog.status.text()
    assert list(user_folder.iterdir()) == []


def test_unknown_files_are_refused(dialog, tmp_path, user_folder):
    from safetensors.torch import save_file
    import torch

    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2)}, str(plain))
    assert not dialog.import_file(plain)
    assert "no GeoDistill model card" in dialog.status.text()
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    assert not dialog.import_file(junk)
    assert "not a readable .safetensors model package" in dialog.status.text()
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"pickle")
    assert not dialog.import_file(checkpoint)
    assert "not a model package (.onnx or .safetensors)" in dialog.status.text()
    assert list(user_folder.iterdir()) == []


def test_bundled_packages_cannot_be_removed(user_folder):
    from geodistill.models.registry import BUNDLED_FOLDER
    from geodistill.plugin.ui.model_manager_dialog import remove_package

    bundled = BUNDLED_FOLDER / "pansharpening_lite_4band_x4.safetensors"
    with pytest.raises(PermissionError, match="bundled"):
        remove_package(bundled, user_folder)
    assert bundled.exists()
