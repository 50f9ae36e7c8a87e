"""Wald-protocol degradation and training pairs (models/data/wald.py)."""
import numpy as np
import pytest

from geodistill.models.data.wald import (
    SENSORS, PansharpenSamples, degrade, gaussian_mtf_kernel, make_training_pairs, sensor_gains)
from geodistill.models.errors import InputError


def nyquist_response(taps: np.ndarray, ratio: int) -> float:
    offsets = np.arange(len(taps)) - (len(taps) - 1) / 2
    return float(np.sum(taps * np.cos(np.pi * offsets / ratio)))


@pytest.mark.parametrize("ratio, gain", [(4, 0.3), (4, 0.11), (2, 0.29), (3, 0.35), (4, 0.9)])
def test_kernel_response_at_nyquist_equals_gain(ratio, gain):
    taps = gaussian_mtf_kernel(ratio, gain)
    assert taps.sum() == pytest.approx(1.0, abs=1e-12)
    assert len(taps) % 2 == ratio % 2
    np.testing.assert_allclose(taps, taps[::-1])
    assert nyquist_response(taps, ratio) == pytest.approx(gain, abs=1e-9)


def test_kernel_of_explicit_size_keeps_gain_and_rejects_wrong_parity():
    assert nyquist_response(gaussian_mtf_kernel(4, 0.3, size=40), 4) == pytest.approx(0.3, abs=1e-9)
    with pytest.raises(ValueError):
        gaussian_mtf_kernel(4, 0.3, size=41)


def test_sensor_table_gains_and_fallback():
    assert sensor_gains("WorldView-2", 8) == ([0.35] * 7 + [0.27], 0.11)
    assert sensor_gains("quickbird", 4) == ([0.34, 0.32, 0.30, 0.22], 0.15)
    assert sensor_gains("generic", 3) == ([0.3] * 3, 0.15)
    gains, pan_gain = sensor_gains("quickbird", 3)  # band subset: mean gain for every band
    np.testing.assert_allclose(gains, [0.295] * 3)
    assert pan_gain == 0.15
    assert set(SENSORS) == {"generic", "worldview2", "worldview3", "quickbird", "ikonos", "geoeye1", "pleiades"}
    with pytest.raises(InputError, match="worldview2"):
        sensor_gains("landsat", 4)


def test_degrade_keeps_constant_and_smooth_means():
    constant = np.full((2, 32, 48), 7.5)
    np.testing.assert_allclose(degrade(constant, 4, [0.3, 0.2]), np.full((2, 8, 12), 7.5), atol=1e-12)
    y, x = np.mgrid[0:64, 0:64]
    smooth = (100 + 20 * np.sin(2 * np.pi * x / 64) * np.cos(2 * np.pi * y / 64))[None]
    assert degrade(smooth, 4, 0.3).mean() == pytest.approx(smooth.mean(), abs=1e-3)


def test_degrade_of_nearest_upsampled_ramp_returns_it_without_shift():
    # A block-replicated linear ramp, blurred symmetrically about each block centre, gives the
    # ramp back exactly; a half-pixel shift would add a/(2r) = 0.125 * 3 / 4 to each value.
    low = np.add.outer(3.0 * np.arange(16), 0.5 * np.arange(16))[None]
    for ratio in (2, 3, 4):
        high = np.repeat(np.repeat(low, ratio, axis=1), ratio, axis=2)
        result = degrade(high, ratio, 0.3)
        margin = len(gaussian_mtf_kernel(ratio, 0.3)) // (2 * ratio) + 1
        np.testing.assert_allclose(result[:, margin:-margin, margin:-margin],
                                   low[:, margin:-margin, margin:-margin], atol=1e-9)


def test_degrade_of_upsampled_impulse_is_centred_on_it():
    low = np.zeros((1, 9, 9))
    low[0, 4, 4] = 1.0
    result = degrade(np.repeat(np.repeat(low, 4, axis=1), 4, axis=2), 4, 0.3)[0]
    assert np.unravel_index(result.argmax(), result.shape) == (4, 4)
    np.testing.assert_allclose(result, result[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(result, result.T, atol=1e-12)


def test_degrade_shape_dtype_and_cropping():
    image = np.random.default_rng(0).random((3, 50, 41)).astype(np.float32)
    result = degrade(image, 4, 0.3)
    assert result.shape == (3, 12, 10) and result.dtype == np.float32


def make_scene(rng, bands=3, size=32, ratio=4):
    ms = rng.random((bands, size, size)).astype(np.float32)
    pan = rng.random((1, size * ratio, size * ratio)).astype(np.float32)
    return ms, pan


def test_training_pairs_shapes_and_alignment_without_augmentation():
    rng = np.random.default_rng(1)
    ms, pan = make_scene(rng)
    samples = make_training_pairs(ms, pan, 4, "generic", patch_size=16, count=10,
                                  rng=np.random.default_rng(2), augment=False)
    assert samples.ms_lr.shape == (10, 3, 4, 4) and samples.pan_lr.shape == (10, 1, 16, 16)
    assert samples.target.shape == (10, 3, 16, 16) and samples.ratio == 4
    assert samples.target.dtype == np.float32
    full_ms_lr, full_pan_lr = degrade(ms, 4, 0.3), degrade(pan, 4, 0.15)
    for index in range(10):
        # locate the target patch in the MS and check the other two come from the same place
        hits = [(r, c) for r in range(0, 17, 4) for c in range(0, 17, 4)
                if np.array_equal(ms[:, r:r + 16, c:c + 16], samples.target[index])]
        assert len(hits) == 1
        row, col = hits[0]
        np.testing.assert_allclose(samples.ms_lr[index], full_ms_lr[:, row // 4:row // 4 + 4, col // 4:col // 4 + 4],
                                   rtol=1e-6)
        np.testing.assert_allclose(samples.pan_lr[index], full_pan_lr[:, row:row + 16, col:col + 16], rtol=1e-6)


def test_augmentation_applies_the_same_transform_to_the_three_arrays():
    rng = np.random.default_rng(3)
    ms, pan = make_scene(rng, size=32)
    plain = make_training_pairs(ms, pan, 4, patch_size=32, count=40, rng=np.random.default_rng(5), augment=False)
    augmented = make_training_pairs(ms, pan, 4, patch_size=32, count=40, rng=np.random.default_rng(5))
    # The only 32-pixel patch of a 32-pixel MS is the whole image: every augmented
    # sample must be one of the 8 dihedral transforms, the same one in all three arrays.
    transforms = [(k, flip) for k in range(4) for flip in (False, True)]

    def apply(array, k, flip):
        return np.rot90(array[:, :, ::-1] if flip else array, k=k, axes=(1, 2))

    seen = set()
    for index in range(40):
        matches = [t for t in transforms if np.array_equal(apply(plain.target[0], *t), augmented.target[index])]
        assert matches
        k, flip = matches[0]
        np.testing.assert_array_equal(apply(plain.ms_lr[0], k, flip), augmented.ms_lr[index])
        np.testing.assert_array_equal(apply(plain.pan_lr[0], k, flip), augmented.pan_lr[index])
        seen.add(matches[0])
    assert len(seen) > 4


def test_concatenate_and_split():
    rng = np.random.default_rng(4)
    ms, pan = make_scene(rng, size=16)
    first = make_training_pairs(ms, pan, 4, patch_size=16, count=6, rng=rng)
    second = make_training_pairs(ms, pan, 4, patch_size=16, count=4, rng=rng)
    joined = PansharpenSamples.concatenate([first, second])
    assert len(joined) == 10
    np.testing.assert_array_equal(joined.target[6:], second.target)
    train, validation = joined.split(0.2, rng=np.random.default_rng(0))
    assert (len(train), len(validation)) == (8, 2)
    together = np.concatenate([train.target, validation.target]).reshape(10, -1)
    assert sorted(map(tuple, together.round(6))) == sorted(map(tuple, joined.target.reshape(10, -1).round(6)))


def test_training_pairs_reject_bad_inputs():
    ms, pan = make_scene(np.random.default_rng(0), size=8)
    with pytest.raises(InputError, match="multiple of the ratio"):
        make_training_pairs(ms, pan, 4, patch_size=18)
    with pytest.raises(InputError, match="too small"):
        make_training_pairs(ms, pan, 4, patch_size=64)
    with pytest.raises(InputError, match="4 times"):
        make_training_pairs(ms, pan[:, :16, :16], 4, patch_size=16)
