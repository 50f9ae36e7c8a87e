"""geodistill:segment end to end in a headless QGIS: class values, nodata, probabilities,
styling by the post-processor, polygons with MIN_AREA, and bad inputs."""
import contextlib

import numpy as np
import pytest
import rasterio
import torch
from osgeo import ogr
from qgis import processing
from qgis.core import (QgsApplication, QgsCategorizedSymbolRenderer, QgsPalettedRasterRenderer,
                       QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback,
                       QgsProcessingOutputLayerDefinition, QgsProject, QgsRasterLayer, QgsVectorLayer)

from rasters import write_raster
from segmentation_scenes import CLASS_IDS, TINY_NET, segmentation_scene

from geodistill.models.data.polygons import polygonize_classes
from geodistill.models.tasks.segment import read_class_table
from geodistill.models.tasks.segment_training import (SegmentationTrainingRequest,
                                                      train_segmentation_model)

NODATA_BLOCK = (slice(0, 20), slice(0, 30))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return segmentation_scene(tmp_path_factory.mktemp("scene"), nodata_block=NODATA_BLOCK)


@pytest.fixture(scope="module")
def model(scene, tmp_path_factory):
    """A tiny GINet trained on the scene's label raster (class values 10, 20, 30)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    try:
        card = train_segmentation_model(SegmentationTrainingRequest(
            [str(scene.raster)], str(scene.label_raster), str(path), ignore_value=0,
            architecture="ginet", epochs=8, tile_size=32, samples_per_raster=48, global_size=32,
            batch_size=4, device="cpu", net_overrides=TINY_NET))
    finally:
        torch.set_num_threads(threads)
    assert [c["id"] for c in card.classes] == CLASS_IDS
    return card, str(path)


def params(scene, model, tmp_path, **extra):
    values = {"INPUT": str(scene.raster), "MODEL": model[1], "DEVICE": "cpu", "TILE_SIZE": 64,
              "OVERLAP": 16, "OUTPUT": str(tmp_path / "classes.tif")}
    values.update(extra)
    return values


def test_class_raster_holds_class_values_and_keeps_nodata(geodistill_provider, scene, model, tmp_path):
    result = processing.run("geodistill:segment", params(
        scene, model, tmp_path, OUTPUT_PROBABILITIES=str(tmp_path / "probabilities.tif")))
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(scene.raster) as source:
        assert out.dtypes == ("uint8",) and out.nodata == 255
        assert out.transform == source.transform and out.crs == source.crs
        classes = out.read(1)
    assert (classes[NODATA_BLOCK] == 255).all()
    valid = scene.truth > 0
    assert set(np.unique(classes[valid])) <= set(CLASS_IDS) and (classes[valid] != 255).all()
    assert (classes[valid] == scene.truth[valid]).mean() > 0.85
    with rasterio.open(result["OUTPUT_PROBABILITIES"]) as probabilities:
        assert probabilities.count == 3 and probabilities.dtypes[0] == "float32"
        assert probabilities.descriptions == tuple(c["name"] for c in model[0].classes)
        values = probabilities.read()
    assert np.allclose(values[:, valid].sum(axis=0), 1.0, atol=1e-4)
    assert (values[(slice(None),) + NODATA_BLOCK] == -1).all()
    assert np.array_equal(np.asarray(CLASS_IDS)[values.argmax(axis=0)][valid], classes[valid])


def test_pixels_below_min_confidence_are_uncertain(geodistill_provider, scene, model, tmp_path):
    """MIN_CONFIDENCE: where the top probability is below it the class raster holds the extra
    class "uncertain" (next free id, in the class table); elsewhere the most likely class."""
    result = processing.run("geodistill:segment", params(
        scene, model, tmp_path, MIN_CONFIDENCE=0.9, OUTPUT_PROBABILITIES=str(tmp_path / "p.tif")))
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(result["OUTPUT_PROBABILITIES"]) as p:
        classes, values = out.read(1), p.read()
    table = read_class_table(result["OUTPUT"])
    assert table[-1] == {"id": max(CLASS_IDS) + 1, "name": "uncertain", "color": "#a0a0a0"}
    valid = scene.truth > 0
    unsure = valid & (values.max(axis=0) < 0.9)
    assert 0 < unsure.sum() < valid.sum()
    assert (classes[unsure] == max(CLASS_IDS) + 1).all()
    sure = valid & ~unsure
    assert np.array_equal(classes[sure], np.asarray(CLASS_IDS)[values.argmax(axis=0)][sure])
    assert (classes[NODATA_BLOCK] == 255).all()
    expect_error(params(scene, model, tmp_path, OUTPUT=str(tmp_path / "c2.tif"), MIN_CONFIDENCE=1.5),
                 "MIN_CONFIDENCE")


@contextlib.contextmanager
def loaded_run(alg_id, values):
    """Run as the toolbox's task does (prepare, run, outputs marked for loading into the
    project); yields (context, feedback, results) while the algorithm, which made the
    post-processors, is alive."""
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    context.setProject(QgsProject.instance())
    loaded = {k: QgsProcessingOutputLayerDefinition(v, QgsProject.instance()) if k.startswith("OUTPUT") else v
              for k, v in values.items()}
    assert alg.prepare(loaded, context, feedback)
    yield context, feedback, alg.runPrepared(loaded, context, feedback)


def post_process(context, feedback, path, layer):
    """Apply the post-processor Processing would call for the output `path` to `layer`."""
    context.layerToLoadOnCompletionDetails(path).postProcessor().postProcessLayer(layer, context, feedback)
    return layer


def test_post_processor_gives_the_palette_and_class_names(geodistill_provider, scene, model, tmp_path):
    values = params(scene, model, tmp_path, OUTPUT_POLYGONS=str(tmp_path / "regions.gpkg"))
    expected = [(c["id"], c["name"], c["color"]) for c in model[0].classes]
    with loaded_run("geodistill:segment", values) as (context, feedback, results):
        raster = post_process(context, feedback, results["OUTPUT"],
                              QgsRasterLayer(results["OUTPUT"], "classes"))
        renderer = raster.renderer()
        assert isinstance(renderer, QgsPalettedRasterRenderer) and renderer.band() == 1
        assert [(c.value, c.label, c.color.name()) for c in renderer.classes()] == expected
        polygons = post_process(context, feedback, results["OUTPUT_POLYGONS"],
                                QgsVectorLayer(results["OUTPUT_POLYGONS"], "regions", "ogr"))
        categories = polygons.renderer()
        assert isinstance(categories, QgsCategorizedSymbolRenderer)
        assert categories.classAttribute() == "class_id"
        assert [(c.value(), c.label(), c.symbol().color().name())
                for c in categories.categories()] == expected


def test_an_area_is_segmented_on_the_input_grid_like_a_whole_run(geodistill_provider, scene, model,
                                                                 tmp_path):
    """The area gets the whole raster's global view and scaling; only the tile layout differs
    from a whole run (tiles of 64 px here), so nearly every class agrees."""
    whole = processing.run("geodistill:segment", params(scene, model, tmp_path))
    with rasterio.open(scene.raster) as source:
        left, top = source.transform * (37, 41)
        right, bottom = source.transform * (90, 83)
    part = processing.run("geodistill:segment", params(
        scene, model, tmp_path, OUTPUT=str(tmp_path / "part.tif"),
        EXTENT=f"{left},{right},{bottom},{top} [EPSG:32633]"))
    window = rasterio.windows.Window(37, 41, 53, 42)
    with rasterio.open(whole["OUTPUT"]) as a, rasterio.open(part["OUTPUT"]) as b:
        assert b.transform == a.window_transform(window) and (b.width, b.height) == (53, 42)
        assert (b.read(1) == a.read(1, window=window)).mean() > 0.9


def read_features(path):
    source = ogr.Open(str(path))
    layer = source.GetLayer(0)
    return [(f.GetField("class_id"), f.GetField("class_name"), f.GetField("area"),
             f.GetGeometryRef().GetArea()) for f in layer]


def test_polygons_cover_the_classes_and_min_area_drops_small_regions(geodistill_provider, scene,
                                                                    model, tmp_path):
    result = processing.run("geodistill:segment", params(
        scene, model, tmp_path, OUTPUT_POLYGONS=str(tmp_path / "all.gpkg")))
    with rasterio.open(result["OUTPUT"]) as out:
        classes = out.read(1)
    features = read_features(result["OUTPUT_POLYGONS"])
    names = {c["id"]: c["name"] for c in model[0].classes}
    assert all(names[class_id] == name for class_id, name, _, _ in features)
    for class_id in CLASS_IDS:  # 1 m pixels: a class's regions add up to its pixel count
        area = sum(a for i, _, a, _ in features if i == class_id)
        assert area == pytest.approx((classes == class_id).sum())
    assert all(area == pytest.approx(geometry_area) for _, _, area, geometry_area in features)
    areas = sorted(a for _, _, a, _ in features)
    threshold = areas[len(areas) // 2]
    result = processing.run("geodistill:segment", params(
        scene, model, tmp_path, OUTPUT=str(tmp_path / "classes2.tif"),
        OUTPUT_POLYGONS=str(tmp_path / "large.gpkg"), MIN_AREA=threshold))
    kept = read_features(result["OUTPUT_POLYGONS"])
    assert sorted(a for _, _, a, _ in kept) == [a for a in areas if a >= threshold]


def test_regions_crossing_strips_are_merged(tmp_path):
    classes = np.full((40, 30), 2, dtype=np.uint8)
    classes[5:35, 5:10] = 1  # a tall bar crossing every strip border
    classes[0:3, 20:23] = 255  # nodata
    path = write_raster(tmp_path / "classes.tif", classes, nodata=255)
    table = [{"id": 1, "name": "road", "color": "#000000"}, {"id": 2, "name": "land", "color": "#ffffff"}]
    summary = polygonize_classes(path, tmp_path / "strips.gpkg", table, strip_rows=7)
    features = sorted(read_features(summary.path))
    assert [(i, n, a) for i, n, a, _ in features] == [(1, "road", 150.0), (2, "land", 1200 - 150 - 9.0)]
    summary = polygonize_classes(path, tmp_path / "big.gpkg", table, min_area=200, strip_rows=7)
    assert (summary.features, summary.dropped) == (1, 1)


def expect_error(values, *words):
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("geodistill:segment", values)
    for word in words:
        assert word in str(raised.value), str(raised.value)


def test_band_count_other_than_the_model_reads(geodistill_provider, scene, model, tmp_path):
    four = write_raster(tmp_path / "four.tif", np.ones((4, 40, 40), np.uint16))
    expect_error(params(scene, model, tmp_path, INPUT=str(four)), "3-band", "4 band")
    assert not (tmp_path / "classes.tif").exists()


def test_class_raster_named_other_than_tif_is_refused_before_running(geodistill_provider, scene, model,
                                                                     tmp_path):
    expect_error(params(scene, model, tmp_path, OUTPUT=str(tmp_path / "classes.jpg")), "GeoTIFF", "'.jpg'")
    expect_error(params(scene, model, tmp_path, OUTPUT_PROBABILITIES=str(tmp_path / "p.img")), "'.img'")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_unsupported_polygon_format_leaves_no_output(geodistill_provider, scene, model, tmp_path):
    expect_error(params(scene, model, tmp_path, OUTPUT_POLYGONS=str(tmp_path / "regions.kml")),
                 ".gpkg")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_default_model_is_the_bundled_land_cover_student(geodistill_provider, tmp_path):
    """MODEL left out: an RGB scene is segmented with the bundled land-cover student (its six
    classes, nodata kept); a 4-band scene has no bundled model and the error says what to do."""
    rng = np.random.default_rng(3)
    image = rng.integers(1, 256, (3, 96, 128), dtype=np.uint8)
    image[:, :16, :16] = 0
    rgb = write_raster(tmp_path / "rgb.tif", image, nodata=0)
    result = processing.run("geodistill:segment", {"INPUT": str(rgb), "DEVICE": "cpu",
                                                   "OUTPUT": str(tmp_path / "classes.tif")})
    with rasterio.open(result["OUTPUT"]) as out:
        classes = out.read(1)
    assert (classes[:16, :16] == 255).all() and set(np.unique(classes[16:])) <= set(range(6))
    assert [c["name"] for c in read_class_table(result["OUTPUT"])] == [
        "Building", "Land", "Road", "Vegetation", "Water", "Unlabeled"]
    four = write_raster(tmp_path / "four.tif", np.ones((4, 40, 40), np.uint16))
    expect_error({"INPUT": str(four), "OUTPUT": str(tmp_path / "four_classes.tif")},
                 "No bundled segmentation model reads 4-band images", "Train a segmentation model")
