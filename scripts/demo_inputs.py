"""The demo's inputs, always inside the demo's own folder: the shared data's sample scenes
copied in (so anything GDAL or QGIS write beside an input, such as .aux.xml statistics, stays
in the demo folder), or small synthetic examples when the shared data is absent."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SHARED_FILES = {
    "ms": SHARED / "pansharpening" / "worldview2" / "ms.tif",
    "pan": SHARED / "pansharpening" / "worldview2" / "pan.tif",
    "hazy": SHARED / "dehazing" / "real_hazy" / "AID_bridge_155.jpg",
    "aerial": SHARED / "segmentation" / "dubai" / "Tile 1" / "images" / "image_part_001.jpg",
}
EXAMPLE_SIZE = 256


@dataclass(frozen=True)
class DemoInputs:
    """One input raster per tool, and where they came from."""

    ms: Path
    pan: Path
    sensor: str  # the pansharpening SENSOR choice
    hazy: Path
    aerial: Path  # segmented and classified
    source: str  # "shared data" or "synthetic examples"


def demo_inputs(folder: Path, examples: bool = False) -> DemoInputs:
    """Copies of the shared sample scenes in `folder`, or synthetic examples when any is
    missing or `examples` is set."""
    folder.mkdir(parents=True, exist_ok=True)
    if not examples and all(path.is_file() for path in SHARED_FILES.values()):
        copies = {}
        for key, path in SHARED_FILES.items():
            copies[key] = folder / f"{key}{path.suffix}"
            shutil.copyfile(path, copies[key])
        return DemoInputs(copies["ms"], copies["pan"], "worldview2", copies["hazy"], copies["aerial"],
                          "shared data")
    return synthetic_inputs(folder)


def synthetic_inputs(folder: Path) -> DemoInputs:
    """An MS + PAN pair (4 bands, ratio 4), a land-cover-like RGB scene and a hazy copy of it."""
    import rasterio

    sys.path.insert(0, str(ROOT / "tests"))
    from rasters import pansharpening_scene, write_raster
    from segmentation_scenes import segmentation_scene

    from geodistill.models.data.haze import synthesize_haze

    pair = pansharpening_scene(folder, bands=4, ratio=4, size=EXAMPLE_SIZE)
    scene = segmentation_scene(folder, size=EXAMPLE_SIZE)
    with rasterio.open(scene.raster) as dataset:
        image = dataset.read().astype(np.float64)
    clear = image / max(float(image.max()), 1.0)
    aerial = write_raster(folder / "aerial.tif", np.round(clear * 255).astype(np.uint8))
    hazy, _, _ = synthesize_haze(clear.astype(np.float32), np.random.default_rng(0))
    hazy_path = write_raster(folder / "hazy.tif", np.round(np.clip(hazy, 0, 1) * 255).astype(np.uint8))
    return DemoInputs(pair.ms_path, pair.pan_path, "generic", hazy_path, aerial, "synthetic examples")
