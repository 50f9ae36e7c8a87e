"""Training labels: polygons and label rasters onto the raster grid, chip folders, patch sampling."""
import json

import numpy as np
import pytest
from rasterio.warp import transform as transform_points

from geodistill.models.data.labels import IGNORE_INDEX, LabelledScene, align_label_raster, \
    load_image_mask_folders, rasterize_polygons
from geodistill.models.data.patches import coarse_labels, median_frequency_weights, sample_patches
from geodistill.models.errors import InputError
from geodistill.models.inference.raster_io import scene_scaling

from rasters import CRS, ORIGIN, write_raster

X0, Y0 = ORIGIN  # the rasters' top-left corner (UTM 33N, 1 m pixels)


def square(row0, col0, row1, col1):
    """A polygon ring on pixel edges: rows row0..row1, cols col0..col1 of a 1 m raster."""
    xs, ys = [X0 + col0, X0 + col1, X0 + col1, X0 + col0], [Y0 - row0, Y0 - row0, Y0 - row1, Y0 - row1]
    return [list(zip(xs, ys)) + [(xs[0], ys[0])]]


def write_geojson(path, polygons, values, field="landcover", crs=CRS, to_lonlat=False):
    features = []
    for rings, value in zip(polygons, values):
        if to_lonlat:
            rings = [list(zip(*transform_points(crs, "EPSG:4326", *zip(*ring)))) for ring in rings]
        features.append({"type": "Feature", "properties": {field: value},
                         "geometry": {"type": "Polygon", "coordinates": rings}})
    collection = {"type": "FeatureCollection", "features": features}
    if not to_lonlat:
        name = f"urn:ogc:def:crs:{crs.replace(':', '::')}"
        collection["crs"] = {"type": "name", "properties": {"name": name}}
    path.write_text(json.dumps(collection))
    return path


@pytest.fixture
def raster(tmp_path):
    rng = np.random.default_rng(0)
    return write_raster(tmp_path / "image.tif", rng.integers(0, 1000, (3, 40, 40)).astype(np.uint16))


def expected_two_squares():
    labels = np.full((40, 40), IGNORE_INDEX, dtype=np.uint8)
    labels[5:15, 10:20] = 1  # "water" sorts after "forest"
    labels[20:30, 0:10] = 0
    return labels


def test_polygons_are_burnt_on_the_raster_grid(tmp_path, raster):
    vector = write_geojson(tmp_path / "labels.geojson", [square(5, 10, 15, 20), square(20, 0, 30, 10)],
                           ["water", "forest"])
    scene = rasterize_polygons(vector, raster, "landcover")
    assert [c["name"] for c in scene.classes] == ["forest", "water"]
    assert all(c["color"].startswith("#") and len(c["color"]) == 7 for c in scene.classes)
    assert np.array_equal(scene.labels, expected_two_squares())


def test_polygons_in_lonlat_are_reprojected_to_the_utm_raster(tmp_path, raster):
    vector = write_geojson(tmp_path / "lonlat.geojson", [square(5, 10, 15, 20), square(20, 0, 30, 10)],
                           ["water", "forest"], to_lonlat=True)
    scene = rasterize_polygons(vector, raster, "landcover")
    assert np.array_equal(scene.labels, expected_two_squares())


def test_numeric_class_values_keep_their_ids(tmp_path, raster):
    vector = write_geojson(tmp_path / "labels.geojson", [square(0, 0, 2, 2), square(2, 2, 4, 4)], [7, 3])
    scene = rasterize_polygons(vector, raster, "landcover")
    assert [c["id"] for c in scene.classes] == [3, 7]
    assert scene.labels[0, 0] == 1 and scene.labels[3, 3] == 0
    assert (scene.labels != IGNORE_INDEX).sum() == 8


def test_polygons_outside_the_raster_are_refused(tmp_path, raster):
    far = [[(x + 10_000, y) for x, y in square(0, 0, 10, 10)[0]]]
    vector = write_geojson(tmp_path / "far.geojson", [far], ["water"])
    with pytest.raises(InputError, match="outside the raster"):
        rasterize_polygons(vector, raster, "landcover")


def test_missing_or_empty_class_field_is_refused(tmp_path, raster):
    vector = write_geojson(tmp_path / "labels.geojson", [square(0, 0, 5, 5)], [None])
    with pytest.raises(InputError, match="has no field 'class'.*landcover"):
        rasterize_polygons(vector, raster, "class")
    with pytest.raises(InputError, match="no values"):
        rasterize_polygons(vector, raster, "landcover")


def test_label_raster_on_a_coarser_grid_is_resampled_with_nearest(tmp_path, raster):
    coarse = np.zeros((20, 20), dtype=np.uint8)  # 2 m pixels over the same area; 0 = unlabelled
    coarse[2:5, 3:6] = 4
    coarse[10:12, 0:2] = 9
    label_path = write_raster(tmp_path / "labels.tif", coarse, pixel_size=2.0)
    scene = align_label_raster(label_path, raster, ignore_value=0)
    assert [c["id"] for c in scene.classes] == [4, 9]
    expected = np.full((40, 40), IGNORE_INDEX, dtype=np.uint8)
    expected[4:10, 6:12] = 0
    expected[20:24, 0:4] = 1
    assert np.array_equal(scene.labels, expected)


def test_label_raster_elsewhere_is_refused(tmp_path, raster):
    label_path = write_raster(tmp_path / "labels.tif", np.ones((10, 10), np.uint8),
                              origin=(X0 + 5000, Y0))
    with pytest.raises(InputError, match="outside the raster"):
        align_label_raster(label_path, raster)


def test_median_frequency_weights_by_hand():
    labels = np.array([0] * 10 + [1] * 30 + [2] * 60 + [IGNORE_INDEX] * 50, dtype=np.uint8)
    # frequencies 0.1, 0.3, 0.6, median 0.3; class 3 has no pixel
    assert np.allclose(median_frequency_weights([labels], 4), [3.0, 1.0, 0.5, 0.0])
    assert np.allclose(median_frequency_weights([labels], 4, cap=2.0), [2.0, 1.0, 0.5, 0.0])
    with pytest.raises(InputError, match="cap on the class weights must be positive, got 0"):
        median_frequency_weights([labels], 4, cap=0)


def test_coarse_labels_take_the_majority_of_labelled_pixels():
    labels = np.full((4, 4), IGNORE_INDEX, dtype=np.uint8)
    labels[0, 0], labels[0, 1], labels[1, 1] = 2, 1, 1  # top-left cell: 1 wins, sparse
    labels[3, 3] = 0
    assert coarse_labels(labels, 2, classes=3).tolist() == [[1, IGNORE_INDEX], [IGNORE_INDEX, 0]]


def test_patches_favour_sparse_labels_and_match_the_raster(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 4000, (3, 64, 48)).astype(np.uint16)
    path = write_raster(tmp_path / "image.tif", image)
    labels = np.full((64, 48), IGNORE_INDEX, dtype=np.uint8)
    labels[50:54, 40:44] = 1  # 16 labelled pixels near the bottom-right corner
    labels[2, 2] = 0
    scene = LabelledScene(path, labels, [{"id": 0, "name": "a", "color": "#000000"},
                                         {"id": 1, "name": "b", "color": "#ffffff"}])
    samples = sample_patches([scene], patch_size=16, count=20, global_size=32, seed=0, labelled_share=1.0)
    assert samples.images.shape == (20, 3, 16, 16) and samples.labels.shape == (20, 16, 16)
    assert samples.global_images.shape == (1, 3, 32, 32) and samples.global_labels.shape == (1, 32, 32)
    assert (samples.scene_index == 0).all()
    assert all((patch != IGNORE_INDEX).any() for patch in samples.labels)
    scaling = scene_scaling(path)
    for image_patch, label_patch, (top, left, bottom, right) in zip(samples.images, samples.labels,
                                                                    samples.windows):
        row, col = round(top * 64), round(left * 48)
        assert (round(bottom * 64) - row, round(right * 48) - col) == (16, 16)
        assert np.allclose(image_patch, scaling.normalize(image[:, row:row + 16, col:col + 16]))
        assert np.array_equal(label_patch, labels[row:row + 16, col:col + 16])


def test_image_and_mask_folders_single_band_and_rgb(tmp_path):
    images, masks, rgb_masks = (tmp_path / name for name in ("images", "masks", "rgb"))
    for folder in (images, masks, rgb_masks):
        folder.mkdir()
    mask = np.zeros((16, 16), np.uint8)
    mask[:8], mask[8:, :4] = 2, 5
    for name in ("a", "b"):
        write_raster(images / f"{name}.tif", np.full((3, 16, 16), 100, np.uint16))
        write_raster(masks / f"{name}.tif", mask)
        rgb = np.zeros((3, 16, 16), np.uint8)
        rgb[:, :8] = np.array([0x3C, 0x10, 0x98])[:, None, None]  # "building"
        write_raster(rgb_masks / f"{name}.tif", rgb)
    scenes = load_image_mask_folders(images, masks, ignore_value=0)
    assert len(scenes) == 2 and [c["id"] for c in scenes[0].classes] == [2, 5]
    assert (scenes[1].labels[:8] == 0).all() and (scenes[1].labels[8:, :4] == 1).all()
    assert (scenes[1].labels[8:, 4:] == IGNORE_INDEX).all()
    classes = [{"id": 0, "name": "building", "color": "#3C1098"},
               {"id": 1, "name": "land", "color": "#8429F6"}]
    rgb_scenes = load_image_mask_folders(images, rgb_masks, classes=classes)
    assert (rgb_scenes[0].labels[:8] == 0).all() and (rgb_scenes[0].labels[8:] == IGNORE_INDEX).all()


def test_image_without_mask_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    write_raster(tmp_path / "images" / "a.tif", np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(InputError, match="no mask .* for a.tif"):
        load_image_mask_folders(tmp_path / "images", tmp_path / "masks")
