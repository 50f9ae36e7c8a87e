"""numpy bilinear resizing equals torch's interpolate (which training used)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geodistill.models.inference.resampling import resize_bilinear


@pytest.mark.parametrize("shape,size", [((3, 150, 150), 64), ((2, 97, 131), 40), ((3, 20, 24), 64),
                                        ((1, 512, 300), 256)])
def test_resize_bilinear_equals_torch_interpolate(shape, size):
    image = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    shrinking = min(shape[-2:]) > size
    expected = F.interpolate(torch.from_numpy(image)[None], size=(size, size), mode="bilinear",
                             align_corners=False, antialias=shrinking)[0].numpy()
    result = resize_bilinear(image, size)
    assert result.shape == (shape[0], size, size) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=2e-6, rtol=0)


def test_resize_keeps_a_constant_image_and_batches():
    images = np.full((4, 3, 90, 70), 0.625, np.float32)
    np.testing.assert_allclose(resize_bilinear(images, 32), 0.625, atol=1e-6)
    assert resize_bilinear(images, 32).shape == (4, 3, 32, 32)
