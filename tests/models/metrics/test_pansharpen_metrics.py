"""Pansharpening metrics and evaluation protocols against hand-computed values."""
import numpy as np
import pytest
import torch
from torchmetrics.functional.image import error_relative_global_dimensionless_synthesis, spectral_angle_mapper

from geodistill.models.data.wald import degrade
from geodistill.models.errors import InputError
from geodistill.models.metrics.evaluation import full_resolution_scores, reduced_resolution_scores
from geodistill.models.metrics.pansharpening import (
    _hypercomplex_product, d_lambda, d_s, ergas, q2n, qnr, sam, scc, uqi)


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    return 100 + 50 * rng.random((4, 40, 40))


def test_sam_identical_is_zero_and_known_angles(reference):
    assert sam(reference, reference) == pytest.approx(0.0, abs=1e-5)
    assert sam(reference, 3.0 * reference) == pytest.approx(0.0, abs=1e-5)
    ref = np.zeros((2, 2, 2))
    ref[0] = 1.0
    fused = np.ones((2, 2, 2))
    assert sam(ref, fused) == pytest.approx(45.0)
    fused = np.zeros((2, 2, 2))
    fused[0, 0] = 1.0  # first row: same direction (0 deg)
    fused[1, 1] = 1.0  # second row: orthogonal (90 deg)
    assert sam(ref, fused) == pytest.approx(45.0)


def test_sam_matches_torchmetrics(reference):
    fused = reference + np.random.default_rng(1).normal(0, 10, reference.shape)
    expected = spectral_angle_mapper(torch.from_numpy(fused)[None], torch.from_numpy(reference)[None])
    assert sam(reference, fused) == pytest.approx(np.degrees(float(expected)), rel=1e-6)


def test_ergas_hand_computed_case_and_scale_behaviour(reference):
    ref = np.stack([np.full((3, 3), 10.0), np.full((3, 3), 20.0)])
    fused = np.stack([np.full((3, 3), 11.0), np.full((3, 3), 18.0)])
    # band errors relative to the means: 1/10 and 2/20 -> 100/4 * sqrt(0.01) = 2.5
    assert ergas(ref, fused, 4) == pytest.approx(2.5)
    assert ergas(ref, fused, 2) == pytest.approx(5.0)
    fused = reference + np.random.default_rng(2).normal(0, 5, reference.shape)
    assert ergas(7 * reference, 7 * fused, 4) == pytest.approx(ergas(reference, fused, 4))
    assert ergas(reference, reference, 4) == 0.0
    expected = error_relative_global_dimensionless_synthesis(torch.from_numpy(fused)[None],
                                                             torch.from_numpy(reference)[None], ratio=4)
    assert ergas(reference, fused, 4) == pytest.approx(float(expected), rel=1e-6)


def test_hypercomplex_product_is_a_composition_algebra_up_to_octonions():
    one, i, j, k = np.eye(4)
    np.testing.assert_allclose(_hypercomplex_product(i[:, None], j[:, None])[:, 0], k)
    np.testing.assert_allclose(_hypercomplex_product(j[:, None], i[:, None])[:, 0], -k)
    rng = np.random.default_rng(3)
    for components in (2, 4, 8):
        a, b = rng.normal(size=(components, 50)), rng.normal(size=(components, 50))
        product = _hypercomplex_product(a, b)
        np.testing.assert_allclose(np.linalg.norm(product, axis=0),
                                   np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


@pytest.mark.parametrize("bands", [1, 3, 4, 8])
def test_q2n_is_one_for_identical_images_and_drops_with_distortion(bands):
    rng = np.random.default_rng(bands)
    reference = 100 + 50 * rng.random((bands, 64, 64))
    assert q2n(reference, reference) == pytest.approx(1.0, abs=1e-9)
    slightly = q2n(reference, reference + rng.normal(0, 2, reference.shape))
    strongly = q2n(reference, reference + rng.normal(0, 20, reference.shape))
    assert 1.0 > slightly > strongly > 0.0
    assert q2n(reference, reference + 10.0) < 1.0  # a bias alone is penalised


def test_q2n_blocks_and_small_images(reference):
    fused = reference + np.random.default_rng(4).normal(0, 5, reference.shape)
    # 40x40 with 32-pixel blocks every 32 pixels: only the top-left block fits
    first_block = q2n(reference[:, :32, :32], fused[:, :32, :32])
    assert q2n(reference, fused, block_size=32, shift=32) == pytest.approx(first_block)
    assert q2n(reference[:, :10, :10], fused[:, :10, :10]) < 1.0


def test_scc_identity_affine_and_blur(reference):
    assert scc(reference, reference) == pytest.approx(1.0)
    assert scc(reference, 2.0 * reference + 5.0) == pytest.approx(1.0)
    blurred = np.repeat(np.repeat(degrade(reference, 2, 0.3), 2, axis=1), 2, axis=2)
    assert scc(reference, blurred) < 0.5


def test_uqi_hand_computed_on_one_window():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[2.0, 2.0], [4.0, 5.0]])
    mx, my = x.mean(), y.mean()
    sxy = np.mean((x - mx) * (y - my))
    expected = 4 * sxy * mx * my / ((x.var() + y.var()) * (mx ** 2 + my ** 2))
    assert uqi(x, y, window=32) == pytest.approx(expected)
    assert uqi(x, x) == pytest.approx(1.0)


@pytest.fixture
def consistent_pair():
    """A fused image F_l = a_l P and an MS M_l = a_l P_L: no spectral nor spatial distortion."""
    rng = np.random.default_rng(5)
    pan = 50 + 100 * rng.random((1, 64, 64))
    pan_lr = degrade(pan, 4, 0.3)
    scales = np.array([0.5, 0.8, 1.0, 1.3])[:, None, None]
    return scales * pan, scales * pan_lr, pan, pan_lr


def test_qnr_of_consistent_fusion_is_one(consistent_pair):
    fused, ms_lr, pan, pan_lr = consistent_pair
    assert d_lambda(fused, ms_lr, window=8) == pytest.approx(0.0, abs=1e-9)
    assert d_s(fused, ms_lr, pan, 4, pan_lr=pan_lr, window=8) == pytest.approx(0.0, abs=1e-9)
    assert qnr(fused, ms_lr, pan, 4, pan_lr=pan_lr, window=8) == pytest.approx(1.0, abs=1e-9)
    # the default low-resolution PAN is the generic 0.3-gain degradation used above
    assert d_s(fused, ms_lr, pan, 4, window=8) == pytest.approx(0.0, abs=1e-9)


def test_distortions_grow_for_inconsistent_fusion(consistent_pair):
    fused, ms_lr, pan, pan_lr = consistent_pair
    noisy = fused + np.random.default_rng(6).normal(0, 20, fused.shape)
    assert d_lambda(noisy, ms_lr, window=8) > 0.05
    assert d_s(noisy, ms_lr, pan, 4, window=8) > 0.05
    assert qnr(noisy, ms_lr, pan, 4, window=8) < 0.9


def test_reduced_resolution_scores_of_a_perfect_method(reference):
    pan = np.repeat(np.repeat(reference.mean(axis=0, keepdims=True), 4, axis=1), 4, axis=2)
    seen = {}

    def oracle(ms_lr, pan_lr):
        seen["shapes"] = (ms_lr.shape, pan_lr.shape)
        return reference

    scores = reduced_resolution_scores(oracle, reference, pan, 4, "quickbird")
    assert seen["shapes"] == ((4, 10, 10), (1, 40, 40))
    assert scores["sam"] == pytest.approx(0.0, abs=1e-5)
    assert scores["ergas"] == 0.0
    assert scores["q2n"] == pytest.approx(1.0)
    assert scores["scc"] == pytest.approx(1.0)


def test_full_resolution_scores_of_consistent_fusion(consistent_pair):
    fused, ms_lr, pan, _ = consistent_pair
    scores = full_resolution_scores(fused, ms_lr, pan, 4)
    assert scores["d_lambda"] == pytest.approx(0.0, abs=1e-9)
    assert scores["d_s"] == pytest.approx(0.0, abs=1e-9)
    assert scores["qnr"] == pytest.approx(1.0, abs=1e-9)


@pytest.fixture
def half_no_data(reference):
    """A 64x64 reference whose right half is no-data (0), and two fusions that agree on the
    left half but differ in the right one (exactly 0 there, or noise)."""
    rng = np.random.default_rng(7)
    ref = np.concatenate([reference, reference[:, :24]], axis=1)[:, :64]
    ref = np.concatenate([ref, ref], axis=2)[:, :, :64]
    ref[:, :, 32:] = 0.0
    fused = ref + rng.normal(0, 5, ref.shape)
    zero_fill, noisy_fill = fused.copy(), fused.copy()
    zero_fill[:, :, 32:] = 0.0
    noisy_fill[:, :, 32:] = np.abs(rng.normal(0, 1, (4, 64, 32)))
    valid = np.zeros((64, 64), dtype=bool)
    valid[:, :32] = True
    return ref, zero_fill, noisy_fill, valid


def test_reduced_resolution_indices_leave_no_data_out(half_no_data):
    """With the mask, what a method puts in the no-data part does not count, and each index
    equals the index of the valid part alone; without it, Q2n reads noise there as a failure."""
    ref, zero_fill, noisy_fill, valid = half_no_data
    left = (ref[:, :, :32], zero_fill[:, :, :32])
    assert q2n(ref, noisy_fill) < q2n(ref, zero_fill) - 0.2
    for name, index, kwargs in [("sam", sam, {}), ("ergas", ergas, {"ratio": 4}),
                                ("q2n", q2n, {}), ("scc", scc, {})]:
        masked = [index(ref, fused, valid=valid, **kwargs) for fused in (zero_fill, noisy_fill)]
        assert masked[0] == pytest.approx(masked[1], rel=1e-12), name
        assert masked[0] == pytest.approx(index(*left, **kwargs), rel=1e-12), name


def test_full_resolution_indices_leave_no_data_out(consistent_pair):
    fused, ms_lr, pan, pan_lr = consistent_pair
    damaged = fused.copy()
    damaged[:, :, 32:] = np.random.default_rng(8).random((4, 64, 32))  # MS columns 8 and up
    valid = np.zeros(ms_lr.shape[1:], dtype=bool)
    valid[:, :8] = True
    assert qnr(damaged, ms_lr, pan, 4, pan_lr=pan_lr, window=8) < 0.9
    assert d_lambda(damaged, ms_lr, window=8, valid=valid) == pytest.approx(0.0, abs=1e-9)
    assert d_s(damaged, ms_lr, pan, 4, pan_lr=pan_lr, window=8, valid=valid) == pytest.approx(0.0, abs=1e-9)
    assert qnr(damaged, ms_lr, pan, 4, pan_lr=pan_lr, window=8, valid=valid) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(InputError, match="no 16 x 16 window"):  # 32-pixel windows shrink to the MS
        full_resolution_scores(damaged, ms_lr, pan, 4, valid)
    fine = np.kron(valid, np.ones((4, 4), dtype=bool))
    assert uqi(damaged[0], fused[0], window=8, valid=fine) == pytest.approx(1.0)


def test_masks_that_leave_nothing_to_score_are_refused(half_no_data):
    ref, zero_fill, _, valid = half_no_data
    with pytest.raises(InputError, match="all no-data"):
        ergas(ref, zero_fill, 4, valid=np.zeros_like(valid))
    speckled = np.ones_like(valid)
    speckled[::16, ::16] = False  # no 32 x 32 block is free of no-data
    with pytest.raises(InputError, match="block"):
        q2n(ref, zero_fill, valid=speckled)
    with pytest.raises(InputError, match="mask is"):
        sam(ref, zero_fill, valid=valid[:10])
