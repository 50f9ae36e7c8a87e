"""Model packages: exact round trip, safe loading, clear errors, and the package registry."""
import dataclasses
import json
import os
import pickle
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import save_file

from geodistill.models import nets
from geodistill.models.errors import PackageError
from geodistill.models.package import (CARD_KEY, ModelCard, import_checkpoint, load_model,
                                       load_package, read_card, save_package, training_sources)
from geodistill.models.registry import BUNDLED_FOLDER, list_packages, resolve_model, scan_packages


@dataclass
class TinyConfig:
    bands: int = 3
    width: int = 4


@nets.register("test_tiny_net", TinyConfig)
class TinyNet(torch.nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.conv = torch.nn.Conv2d(config.bands, config.width, 3, padding=1)
        self.head = torch.nn.Conv2d(config.width, 2, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


def make_card(**changes):
    card = ModelCard(name="tiny", task="segmentation", architecture="test_tiny_net",
                     config={"bands": 3, "width": 4}, input_bands={"image": ["red", "green", "blue"]},
                     scaling={"image": {"low": [0.0, 0.0, 0.0], "high": [255.0, 255.0, 255.0]}},
                     gsd=0.5, classes=[{"id": 0, "name": "other", "color": "#000000"},
                                       {"id": 1, "name": "water", "color": "#1f78b4"}],
                     tile_size=256, overlap=32, teacher="tiny-teacher", training_data="synthetic",
                     licence="CC-BY-4.0", metrics={"miou": 0.5}, created_by="geodistill 0.1",
                     description="a test net")
    return dataclasses.replace(card, **changes)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinyNet(TinyConfig())


@pytest.fixture
def package(tmp_path, net):
    path = tmp_path / "tiny.safetensors"
    save_package(path, net.state_dict(), make_card())
    return path


def test_save_and_load_round_trip_exactly(tmp_path, net):
    path = tmp_path / "tiny.safetensors"
    saved = save_package(path, net.state_dict(), make_card())
    card, state = load_package(path)
    assert card == saved and len(saved.sha256) == 64
    assert dataclasses.replace(card, sha256="") == make_card()
    assert state.keys() == net.state_dict().keys()
    for name, tensor in net.state_dict().items():
        assert torch.equal(state[name], tensor)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.safetensors"]


def test_load_model_builds_the_net_in_eval_mode(package, net):
    card, model = load_model(package)
    x = torch.rand(1, 3, 8, 8)
    assert card.classes[1]["name"] == "water" and not model.training
    with torch.no_grad():
        assert torch.equal(model(x), net(x))


def test_not_a_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(PackageError, match="model.safetensors is not a readable .safetensors"):
        load_package(path)


def test_truncated_file_is_refused(package):
    data = package.read_bytes()
    package.write_bytes(data[: len(data) - 100])
    with pytest.raises(PackageError, match="damaged, truncated"):
        load_package(package)


def test_modified_weights_fail_the_checksum(package):
    data = bytearray(package.read_bytes())
    data[-1] ^= 0xFF  # last byte of the last tensor
    package.write_bytes(bytes(data))
    with pytest.raises(PackageError, match="do not match the sha256"):
        load_package(package)


def write_with_card(path, net, card_text):
    save_file(net.state_dict(), str(path), metadata={CARD_KEY: card_text})
    return path


@pytest.mark.parametrize("change,message", [
    ({"task": "painting"}, "task 'painting' is not one of"),
    ({"format_version": 99}, "format version 99 is not supported"),
    ({"classes": [{"id": 0, "name": "x", "color": "red"}]}, "classes must be a list"),
    ({"overlap": 300}, r"overlap must be an integer from 0 to 255 \(it is 300\)"),
])
def test_invalid_card_fields_are_named(tmp_path, net, change, message):
    text = json.dumps({**dataclasses.asdict(make_card()), **change})
    path = write_with_card(tmp_path / "bad.safetensors", net, text)
    with pytest.raises(PackageError, match=message):
        load_package(path)


def test_card_that_is_not_json_or_lacks_fields_is_refused(tmp_path, net):
    with pytest.raises(PackageError, match="not valid JSON"):
        load_package(write_with_card(tmp_path / "a.safetensors", net, "{name: tiny"))
    with pytest.raises(PackageError, match="lacks architecture, name, task"):
        load_package(write_with_card(tmp_path / "b.safetensors", net, json.dumps({"gsd": 1.0})))


def test_plain_safetensors_without_card_is_refused(tmp_path, net):
    path = tmp_path / "plain.safetensors"
    save_file(net.state_dict(), str(path))
    with pytest.raises(PackageError, match="has no GeoDistill model card"):
        load_package(path)


def test_unknown_architecture_is_named(tmp_path, net):
    path = tmp_path / "future.safetensors"
    save_package(path, net.state_dict(), make_card(architecture="hypernet9000"))
    with pytest.raises(PackageError, match="needs architecture 'hypernet9000'.*update GeoDistill"):
        load_model(path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, net):
    path = tmp_path / "wide.safetensors"
    save_package(path, net.state_dict(), make_card(config={"bands": 3, "width": 8}))
    with pytest.raises(PackageError, match="do not fit architecture 'test_tiny_net'"):
        load_model(path)


def test_checkpoint_import_round_trips(tmp_path, net):
    checkpoint = tmp_path / "model.pth"
    torch.save({"state_dict": net.state_dict()}, checkpoint)
    saved = import_checkpoint(checkpoint, make_card(), tmp_path / "imported.safetensors")
    card, state = load_package(tmp_path / "imported.safetensors")
    assert card == saved and torch.equal(state["conv.weight"], net.state_dict()["conv.weight"])


class CreatesFile:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_checkpoint_import_never_runs_pickled_code(tmp_path):
    marker = tmp_path / "payload_ran"
    checkpoint = tmp_path / "evil.pt"
    with open(checkpoint, "wb") as handle:
        pickle.dump({"weight": CreatesFile(marker)}, handle, protocol=2)
    torch.save({"weight": CreatesFile(marker)}, tmp_path / "evil_zip.pt")
    for path in (checkpoint, tmp_path / "evil_zip.pt"):
        with pytest.raises(PackageError, match="cannot be imported safely"):
            import_checkpoint(path, make_card(), tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_registry_lists_user_packages_and_skips_invalid_files(tmp_path, net):
    save_package(tmp_path / "water.safetensors", net.state_dict(), make_card(name="water"))
    save_package(tmp_path / "haze.safetensors", net.state_dict(),
                 make_card(name="haze", task="dehazing", classes=[]))
    (tmp_path / "broken.safetensors").write_bytes(b"nothing useful")
    listing = scan_packages(tmp_path)
    user = [e for e in listing.packages if e.source == "user"]
    assert [(e.name, e.card.task) for e in user] == [("haze", "dehazing"), ("water", "segmentation")]
    assert list(listing.skipped) == [tmp_path / "broken.safetensors"]
    assert [e.name for e in list_packages(tmp_path, task="dehazing") if e.source == "user"] == ["haze"]
    assert read_card(user[0].path).name == "haze"


def test_resolve_model_by_name_or_path_with_helpful_error(tmp_path, net):
    path = tmp_path / "water.safetensors"
    save_package(path, net.state_dict(), make_card(name="water"))
    assert resolve_model("water", tmp_path) == path
    assert resolve_model(str(path)) == path
    with pytest.raises(PackageError, match="No segmentation model named 'lava'. Available: .*water"):
        resolve_model("lava", tmp_path, task="segmentation")
    with pytest.raises(PackageError, match="does not exist"):
        resolve_model(tmp_path / "missing.safetensors")


def test_bundled_folder_is_resources_models_of_the_plugin():
    assert BUNDLED_FOLDER.parts[-2:] == ("resources", "models")
    assert (BUNDLED_FOLDER.parents[1] / "models" / "package.py").is_file()


def test_saved_package_is_readable_by_everyone(package):
    """Bundled and shared packages must be readable by other users (safetensors writes 0600)."""
    import stat

    assert stat.S_IMODE(package.stat().st_mode) & 0o044 == 0o044


@pytest.mark.parametrize("path", sorted(BUNDLED_FOLDER.glob("*.safetensors")), ids=lambda p: p.stem)
def test_every_bundled_package_loads_and_says_what_it_was_trained_on(path):
    """Shipped files: a valid card (name = file name, licence, training data, held-out
    metrics), weights that fit the architecture, and class lists with unique names/colours."""
    card, model = load_model(path)
    assert card.name == path.stem and card.licence and card.training_data
    assert any(key.startswith("heldout_") for key in card.metrics), card.metrics
    assert sum(p.numel() for p in model.parameters()) > 0 and not model.training
    if card.classes:
        assert [c["id"] for c in card.classes] == list(range(len(card.classes)))
        assert len({c["name"] for c in card.classes}) == len(card.classes)
        assert all(c["color"].startswith("#") and len(c["color"]) == 7 for c in card.classes)


def test_training_sources_lists_a_few_names_and_counts_the_rest():
    assert training_sources(["a.tif", "b.tif"]) == "a.tif, b.tif"
    names = [f"chip_{i}.jpg" for i in range(3016)]
    text = training_sources(names, limit=3)
    assert text == "chip_0.jpg, chip_1.jpg, chip_2.jpg and 3013 more (3016 in all)"
    assert training_sources(names[:12]) == ", ".join(names[:12])
