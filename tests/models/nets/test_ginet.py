"""GINet: global-window mapping, global-guided normalization, affinity losses, the engine adapter."""
import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F

from geodistill.models.training.ginet_losses import affinity_distillation_loss, affinity_matrix, \
    local_affinity_distillation_loss
from geodistill.models.errors import InputError
from geodistill.models.inference.engine import OutputSpec, RasterInput, run_tiled
from geodistill.models.inference.global_context import read_global_view, window_fractions
from geodistill.models.runtime.torch_models import GINetTileModel
from geodistill.models.inference.scaling import BandScaling
from geodistill.models.inference.tiling import TileWindow, TilingOptions
from geodistill.models.nets import build
from geodistill.models.nets.ginet import GINet, GINetConfig, GlobalGuidedNorm, crop_windows

from rasters import smooth_field, write_raster


def tiny_config(**changes) -> GINetConfig:
    values = dict(bands=3, classes=4, widths=[8, 16], blocks=[1, 1], decoder_width=8,
                  guidance_width=8, global_size=32)
    values.update(changes)
    return GINetConfig(**values)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def net() -> GINet:
    torch.manual_seed(0)
    return GINet(tiny_config())


def test_both_registered_sizes_build_and_the_lite_one_is_small():
    paper = build("ginet", {"bands": 3, "classes": 6})
    lite = build("ginet_lite", {"bands": 3, "classes": 6})
    count = lambda model: sum(p.numel() for p in model.parameters())
    assert paper.config.multiple_of == 32 and lite.config.multiple_of == 32
    assert count(paper) > 20e6
    assert count(lite) < count(paper) / 5


def test_forward_gives_class_logits_for_each_crop(net):
    local = torch.rand(2, 3, 32, 24)
    logits = net(local, torch.rand(1, 3, 32, 32), torch.tensor([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]]))
    assert logits.shape == (2, 4, 32, 24)


def test_crop_of_bottom_right_window_is_bottom_right_cells():
    global_map = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    tile = TileWindow(row=96, col=72, height=32, width=24)
    windows = window_fractions([tile], scene_shape=(128, 96))
    assert windows.tolist() == [[0.75, 0.75, 1.0, 1.0]]
    crop = crop_windows(global_map, torch.from_numpy(windows), (2, 2), torch.zeros(1, dtype=torch.long))
    assert torch.equal(crop, global_map[:, :, 6:8, 6:8])


def test_crop_of_whole_scene_resamples_at_cell_centres():
    global_map = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)  # linear in x and y
    whole = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    index = torch.zeros(1, dtype=torch.long)
    assert torch.equal(crop_windows(global_map, whole, (8, 8), index), global_map)
    assert torch.allclose(crop_windows(global_map, whole, (4, 4), index), F.avg_pool2d(global_map, 2))


def test_crops_read_their_own_scene():
    maps = torch.stack([torch.full((1, 4, 4), 1.0), torch.full((1, 4, 4), 2.0)])
    windows = torch.tensor([[0, 0, 0.5, 0.5]] * 3)
    crops = crop_windows(maps, windows, (2, 2), torch.tensor([1, 0, 1]))
    assert crops[:, 0, 0, 0].tolist() == [2.0, 1.0, 2.0]


def test_guided_norm_starts_as_plain_normalization_then_scales_and_shifts():
    torch.manual_seed(0)
    norm = GlobalGuidedNorm(channels=4, guide_channels=3, hidden=8).train()
    x = torch.randn(6, 4, 8, 8) * 5 + 3
    modulation = norm.modulation_map(torch.rand(6, 3, 8, 8))
    assert modulation.shape == (6, 8, 8, 8) and modulation.abs().max() == 0
    out = norm(x, modulation)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(out.var(dim=(0, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)
    gamma_beta = torch.cat([torch.full((6, 4, 8, 8), 1.0), torch.full((6, 4, 8, 8), 0.5)], dim=1)
    assert torch.allclose(norm(x, gamma_beta), 2 * out + 0.5, atol=1e-5)


def test_guided_norm_passes_gradients_to_local_and_global_features():
    torch.manual_seed(0)
    norm = GlobalGuidedNorm(channels=4, guide_channels=3, hidden=8)
    torch.nn.init.normal_(norm.predictor[-1].weight)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    guide = torch.rand(1, 3, 4, 4, requires_grad=True)
    windows = torch.tensor([[0, 0, 0.5, 1], [0.5, 0, 1, 1]])
    modulation = crop_windows(norm.modulation_map(guide), windows, (8, 8), torch.zeros(2, dtype=torch.long))
    (norm(x, modulation) ** 2).mean().backward()
    assert x.grad.abs().sum() > 0 and guide.grad.abs().sum() > 0
    assert norm.predictor[0].weight.grad.abs().sum() > 0


def test_forward_features_shapes(net):
    outputs, features = net.forward_features(torch.rand(3, 3, 16, 16), torch.rand(2, 3, 32, 32),
                                             torch.rand(3, 4), torch.tensor([0, 1, 1]))
    assert outputs["local"].shape == (3, 4, 16, 16)
    assert outputs["global"].shape == (2, 4, 32, 32)
    assert features["local"].shape == features["global_region"].shape == (3, 8, 4, 4)


def test_lad_trains_the_global_branch_only(net):
    _, features = net.forward_features(torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32),
                                       torch.tensor([[0, 0, 1, 1], [0.25, 0.25, 0.75, 0.75]]))
    loss = local_affinity_distillation_loss(features, grid=4)
    assert loss.item() > 0
    loss.backward()
    global_grad = sum(p.grad.abs().sum() for p in net.global_encoder.parameters() if p.grad is not None)
    assert global_grad > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.local_encoder.parameters())


def test_affinity_matrix_is_pooled_cosine_similarity():
    features = torch.zeros(1, 2, 8, 8)
    features[:, 0, :, :4] = 1.0  # left half points along channel 0
    features[:, 1, :, 4:] = 3.0  # right half along channel 1
    affinity = affinity_matrix(features, grid=2)
    assert affinity.shape == (1, 4, 4)
    # cells in row-major order: (0,0) left, (0,1) right, (1,0) left, (1,1) right
    expected = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=torch.float32)
    assert torch.allclose(affinity[0], expected, atol=1e-6)


def test_affinity_distillation_ignores_width_and_scale():
    x = torch.randn(2, 4, 16, 16)
    assert affinity_distillation_loss(x, torch.cat([x, x], dim=1) * 3, grid=4).item() < 1e-10
    assert affinity_distillation_loss(x, torch.randn(2, 8, 16, 16), grid=4).item() > 1e-3


def test_wrong_bands_or_sides_are_refused(net):
    with pytest.raises(InputError, match="3 bands"):
        net(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 32, 32), torch.rand(1, 4))
    with pytest.raises(InputError, match="multiples of 8"):
        net(torch.rand(1, 3, 20, 16), torch.rand(1, 3, 32, 32), torch.rand(1, 4))


def test_tile_model_predicts_like_the_net_with_window_fractions(net):
    net.eval()
    global_image = torch.rand(3, 32, 32)
    tiles = torch.rand(2, 3, 16, 16)
    windows = [TileWindow(0, 0, 16, 16), TileWindow(48, 32, 16, 16)]
    adapter = GINetTileModel(net, global_image, scene_shape=(64, 48))
    with torch.no_grad():
        expected = net(tiles, global_image[None], torch.tensor([[0, 0, 0.25, 1 / 3], [0.75, 2 / 3, 1, 1]]))
    np.testing.assert_allclose(adapter.predict([tiles.numpy()], windows), expected.numpy(), atol=1e-6)


def test_tile_model_of_part_of_the_scene_maps_windows_by_its_offset(net):
    """A run over an area: tile windows on the area's grid are placed in the scene's global
    map by the area's offset."""
    net.eval()
    with torch.no_grad():  # guidance starts as the identity: give it weights that use the view
        for parameter in net.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    global_image = torch.rand(3, 32, 32)
    tiles = torch.rand(1, 3, 16, 16)
    part = GINetTileModel(net, global_image, scene_shape=(64, 48), offset=(16, 8))
    scene = GINetTileModel(net, global_image, scene_shape=(64, 48))
    tiles = tiles.numpy()
    shifted = part.predict([tiles], [TileWindow(8, 16, 16, 16)])
    np.testing.assert_allclose(shifted, scene.predict([tiles], [TileWindow(24, 24, 16, 16)]), atol=1e-6)
    assert not np.allclose(shifted, scene.predict([tiles], [TileWindow(8, 16, 16, 16)]), atol=1e-3)


def test_engine_segments_a_scene_with_the_global_view(tmp_path, net):
    rng = np.random.default_rng(0)
    scene = (smooth_field((3, 96, 80), rng, scale=16) * 1000).astype(np.uint16)
    path = write_raster(tmp_path / "scene.tif", scene)
    scaling = BandScaling.from_array(scene, mode="per_band")
    net.eval()
    global_view = read_global_view(path, None, scaling, global_size=32)
    assert global_view.shape == (3, 32, 32)
    report = run_tiled(GINetTileModel(net, global_view, (96, 80)), [RasterInput(path, scaling=scaling)],
                       OutputSpec(tmp_path / "classes.tif", band_count=4, kind="classes"),
                       TilingOptions(tile_size=32, overlap=16, batch_size=4, multiple_of=8))
    with rasterio.open(report.output_path) as dataset:
        classes = dataset.read(1)
    with torch.no_grad():
        whole = net(torch.as_tensor(scaling.normalize(scene))[None], torch.as_tensor(global_view)[None],
                    torch.tensor([[0.0, 0.0, 1.0, 1.0]])).argmax(1)[0].numpy()
    assert classes.shape == (96, 80) and classes.max() < 4
    assert (classes == whole).mean() > 0.9


def _grid_sample_crop(maps, windows, size):
    """The reference RoI sampling: an affine sampling grid and grid_sample."""
    top, left, bottom, right = windows.unbind(dim=1)
    zeros = torch.zeros_like(top)
    theta = torch.stack([torch.stack([right - left, zeros, left + right - 1], dim=1),
                         torch.stack([zeros, bottom - top, top + bottom - 1], dim=1)], dim=1)
    grid = F.affine_grid(theta, [windows.shape[0], maps.shape[1], *size], align_corners=False)
    return F.grid_sample(maps.expand(windows.shape[0], -1, -1, -1), grid, mode="bilinear",
                         padding_mode="border", align_corners=False)


def test_crop_windows_matrix_products_equal_grid_sampling():
    generator = torch.Generator().manual_seed(3)
    maps = torch.rand(1, 5, 12, 10, generator=generator)
    windows = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.3, 0.6, 0.9, 1.3], [-0.1, 0.2, 0.45, 0.7],
                            [0.7, 0.8, 1.2, 1.1]])
    crops = crop_windows(maps, windows, (6, 7), torch.zeros(4, dtype=torch.long))
    assert crops.shape == (4, 5, 6, 7)
    torch.testing.assert_close(crops, _grid_sample_crop(maps, windows, (6, 7)), rtol=0, atol=1e-6)
