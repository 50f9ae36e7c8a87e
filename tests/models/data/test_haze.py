"""Haze synthesis (I = J t + A (1 - t)) and dehazing training pairs."""
import numpy as np
import pytest

from geodistill.models.data.haze import DehazeSamples, make_dehaze_pairs, smooth_random_field, \
    synthesize_haze
from geodistill.models.errors import InputError
from hazy_scenes import clear_scene


def test_haze_follows_the_scattering_model_with_t_in_the_thickness_range():
    clear = clear_scene()
    hazy, transmission, airlight = synthesize_haze(clear, np.random.default_rng(1), thickness=(0.2, 0.9))
    assert hazy.shape == transmission.shape == airlight.shape == clear.shape
    assert hazy.dtype == transmission.dtype == airlight.dtype == np.float32
    assert transmission.min() >= 0.1 - 1e-6 and transmission.max() <= 0.8 + 1e-6
    assert 0.0 < transmission.min() and transmission.max() <= 1.0
    np.testing.assert_allclose(hazy, clear * transmission + airlight * (1 - transmission), atol=1e-6)
    # non-homogeneous: the thinnest and the thickest haze of the image differ
    assert transmission.max() - transmission.min() > 0.05
    assert 0.0 < airlight.min() and airlight.max() <= 1.0


def test_no_thickness_gives_back_the_clear_image_exactly():
    clear = clear_scene()
    hazy, transmission, _ = synthesize_haze(clear, np.random.default_rng(0), thickness=(0.0, 0.0))
    assert np.all(transmission == 1.0)
    np.testing.assert_array_equal(hazy, clear)


def test_the_same_seed_gives_the_same_haze_and_another_seed_another():
    clear = clear_scene()
    first = synthesize_haze(clear, np.random.default_rng(7))
    again = synthesize_haze(clear, np.random.default_rng(7))
    other = synthesize_haze(clear, np.random.default_rng(8))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.abs(first[0] - other[0]).mean() > 0.01


def test_longer_wavelengths_see_through_the_haze_by_angstroms_law():
    wavelengths = [450.0, 550.0, 660.0, 860.0]
    clear = clear_scene(bands=4)
    _, transmission, _ = synthesize_haze(clear, np.random.default_rng(2), wavelengths=wavelengths,
                                         angstrom_exponent=1.3)
    reference = transmission[1]  # 550 nm is the reference wavelength
    for band, wavelength in enumerate(wavelengths):
        np.testing.assert_allclose(np.log(transmission[band]) / np.log(reference),
                                   (550.0 / wavelength) ** 1.3, rtol=1e-4)
    assert np.all(transmission[0] < transmission[1]) and np.all(transmission[3] > transmission[2])


def test_smooth_field_spans_zero_to_one_without_jumps():
    field = smooth_random_field(128, 96, np.random.default_rng(3))
    assert field.shape == (128, 96) and field.min() == 0.0 and field.max() == 1.0
    assert np.abs(np.diff(field, axis=0)).max() < 0.05
    assert np.abs(np.diff(field, axis=1)).max() < 0.05


def test_bad_thickness_and_wavelengths_are_refused():
    clear = clear_scene()
    with pytest.raises(InputError, match="thickness"):
        synthesize_haze(clear, np.random.default_rng(0), thickness=(0.5, 1.0))
    with pytest.raises(InputError, match="one positive wavelength"):
        synthesize_haze(clear, np.random.default_rng(0), wavelengths=[450.0, 550.0])


def test_pairs_are_reproducible_windows_scaled_like_the_hazy_scene():
    images = [clear_scene(seed=0), clear_scene(seed=1, size=64)]
    pairs = make_dehaze_pairs(images, 32, 10, np.random.default_rng(4))
    again = make_dehaze_pairs(images, 32, 10, np.random.default_rng(4))
    assert pairs.hazy.shape == pairs.clear.shape == (10, 3, 32, 32) and len(pairs) == 10
    assert pairs.hazy.dtype == np.float32
    np.testing.assert_array_equal(pairs.hazy, again.hazy)
    np.testing.assert_array_equal(pairs.clear, again.clear)

    # with the window as large as the image, the hazy patch's 99.5th percentile of all bands
    # maps to 1 and 0 stays 0: band ratios (the haze's colour) are kept
    whole = make_dehaze_pairs([images[1]], 64, 3, np.random.default_rng(5), context_size=64)
    raw = make_dehaze_pairs([images[1]], 64, 3, np.random.default_rng(5), context_size=64,
                            normalize=False)
    for hazy, hazy_raw in zip(whole.hazy, raw.hazy):
        assert np.percentile(hazy, 99.5) == pytest.approx(1.0, abs=1e-5)
        ratio = hazy_raw / hazy
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)


def test_haze_free_pairs_without_scaling_are_flipped_and_turned_windows_of_the_image():
    image = clear_scene(size=32)
    pairs = make_dehaze_pairs([image], 32, 6, np.random.default_rng(6), thickness=(0.0, 0.0),
                              normalize=False)
    np.testing.assert_array_equal(pairs.hazy, pairs.clear)
    variants = [np.rot90(v, k, axes=(1, 2)) for v in (image, image[:, :, ::-1]) for k in range(4)]
    for patch in pairs.clear:
        assert any(np.array_equal(patch, variant) for variant in variants)


def test_samples_split_and_concatenate():
    pairs = DehazeSamples(np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1),
                          -np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1))
    train, validation = pairs.split(0.3, np.random.default_rng(0))
    assert len(train) == 7 and len(validation) == 3
    joined = DehazeSamples.concatenate([train, validation])
    assert sorted(joined.hazy.ravel().tolist()) == list(range(10))
    np.testing.assert_array_equal(joined.clear, -joined.hazy)
    with pytest.raises(ValueError, match="same shape"):
        DehazeSamples(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 5)))


def test_images_smaller_than_the_patch_are_refused():
    with pytest.raises(InputError, match="smaller than"):
        make_dehaze_pairs([clear_scene(size=32)], 64, 4, np.random.default_rng(0))
