"""Distillation losses, the pansharpening training loops and scene adaptation."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geodistill.models.data.wald import degrade, make_training_pairs, sensor_gains
from geodistill.models.training.scene_adaptation import adapt_to_scene, reduced_resolution_loss
from geodistill.models.training.losses import FeatureAdapter, feature_distillation_loss, \
    output_distillation_loss, stage_l1_loss
from geodistill.models.training.train_pansharpen import TrainConfig, _PatchSet, train_psdnet, \
    train_student, train_teacher
from geodistill.models.training.training import ProgressSpan, split_train_validation
from geodistill.models.errors import Cancelled, InputError
from geodistill.models.nets.pansharpen_lite import PansharpenLite, PansharpenLiteConfig
from geodistill.models.nets.psdnet import PSDNet, PSDNetConfig

TINY_PSDNET = PSDNetConfig(ms_bands=4, ratio=4, width=8, projection_pairs=1, refine_blocks=1)
TINY_LITE = PansharpenLiteConfig(ms_bands=4, ratio=4, width=8, depth=1)


def synthetic_scene(bands: int = 4, ratio: int = 4, ms_size: int = 48, seed: int = 0):
    """Normalized MS (bands, s, s) and PAN (1, s*r, s*r): the PAN is the mean of a sharp
    high-resolution MS whose MTF-blurred, decimated version is the MS."""
    generator = torch.Generator().manual_seed(seed)
    size = ms_size * ratio
    smooth, fine, regions = (
        F.interpolate(torch.rand(1, bands + 2, cells, cells, generator=generator), size=(size, size),
                      mode="bilinear", align_corners=False)[0]
        for cells in (4, 16, size // 2))
    mixes = torch.rand(bands, bands + 2, generator=generator)
    sources = smooth + fine + 0.5 * (regions > 0.5).float()
    high_res = torch.einsum("bk,khw->bhw", mixes / mixes.sum(1, keepdim=True), sources) / 2.5 + 0.1
    ms = degrade(high_res.numpy().astype(np.float32), ratio, sensor_gains("generic", bands)[0])
    return ms, high_res.mean(0, keepdim=True).numpy().astype(np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def samples():
    ms, pan = synthetic_scene()
    return make_training_pairs(ms, pan, 4, patch_size=32, count=96, rng=np.random.default_rng(0))


def _config(**changes) -> TrainConfig:
    values = dict(epochs=30, batch_size=8, learning_rate=5e-3, patience=30, validation_fraction=0.25,
                  seed=0, device="cpu")
    values.update(changes)
    return TrainConfig(**values)


# --- losses ---------------------------------------------------------------------------------

def test_feature_distillation_is_zero_for_identical_features_and_moves_only_the_student():
    features = {"stage3": torch.rand(2, 8, 6, 6), "stage2_decoder": torch.rand(2, 8, 6, 6)}
    student = {k: v.clone().requires_grad_() for k, v in features.items()}
    teacher = {k: v.clone().requires_grad_() for k, v in features.items()}
    loss = feature_distillation_loss(student, teacher)
    assert loss.item() == 0.0

    shifted = {k: v + 0.5 for k, v in student.items()}
    loss = feature_distillation_loss(shifted, teacher)
    assert loss.item() == pytest.approx(2 * 0.25)  # two keys, each MSE 0.5^2
    loss.backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in student.values())
    assert all(v.grad is None for v in teacher.values())


def test_feature_distillation_refuses_mismatched_or_unshared_features():
    with pytest.raises(ValueError, match="share no feature"):
        feature_distillation_loss({"hidden": torch.zeros(1, 4, 2, 2)}, {"stage3": torch.zeros(1, 8, 2, 2)})
    with pytest.raises(ValueError, match="stage3"):
        feature_distillation_loss({"stage3": torch.zeros(1, 4, 2, 2)}, {"stage3": torch.zeros(1, 8, 2, 2)})


def test_adapter_maps_student_features_to_teacher_names_and_widths():
    adapter = FeatureAdapter({"hidden": "stage3"}, {"hidden": 6}, {"stage3": 28})
    mapped = adapter({"hidden": torch.rand(2, 6, 5, 5)})
    assert list(mapped) == ["stage3"] and mapped["stage3"].shape == (2, 28, 5, 5)


def test_output_losses_sum_stages_and_detach_the_teacher():
    target = torch.zeros(1, 2, 4, 4)
    outputs = [torch.full((1, 2, 4, 4), 0.1), torch.full((1, 2, 4, 4), -0.3)]
    assert stage_l1_loss(outputs, target).item() == pytest.approx(0.4)
    student = torch.full((1, 2, 4, 4), 0.2, requires_grad=True)
    teacher = torch.zeros(1, 2, 4, 4, requires_grad=True)
    loss = output_distillation_loss(student, teacher)
    loss.backward()
    assert loss.item() == pytest.approx(0.2)
    assert student.grad is not None and teacher.grad is None


# --- loop helpers ---------------------------------------------------------------------------

def test_progress_spans_chain_monotonically_to_1():
    seen = []
    span = ProgressSpan(seen.append)
    first, second = span.part(0.0, 0.5), span.part(0.5, 1.0)
    for fraction in (0.0, 0.5, 1.0, 0.2):  # a late smaller report is dropped
        first.report(fraction)
    for fraction in (0.5, 1.0):
        second.report(fraction)
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_validation_split_is_disjoint_seeded_and_never_empty():
    train, validation = split_train_validation(10, 0.25, seed=3)
    assert sorted(torch.cat([train, validation]).tolist()) == list(range(10))
    assert len(validation) == 2  # round(2.5) -> 2
    assert torch.equal(split_train_validation(10, 0.25, seed=3)[1], validation)
    assert len(split_train_validation(3, 0.01, seed=0)[1]) == 1


# --- training -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_run(samples):
    progress, messages = [], []
    result = train_student(samples, _config(), progress=progress.append, log=messages.append,
                           net_config=TINY_LITE)
    return result, progress, messages


@pytest.fixture(scope="module")
def teacher_run(samples):
    return train_teacher(samples, _config(epochs=2, learning_rate=1e-3), net_config=TINY_PSDNET)


def test_spectral_jitter_scales_each_band_of_input_and_target_alike(samples):
    indices = torch.arange(16)
    plain = _PatchSet(samples, torch.device("cpu"), augment=False, seed=0).batch(indices, augment=True)
    jittered = _PatchSet(samples, torch.device("cpu"), augment=True, seed=0,
                         spectral_jitter=0.4).batch(indices, augment=True)
    # turns and flips keep each patch's band means; the jitter multiplies them by its gains
    ms_gains, pan_gains, target_gains = (j.mean(dim=(2, 3)) / p.mean(dim=(2, 3))
                                         for j, p in zip(jittered, plain))
    torch.testing.assert_close(ms_gains, target_gains, rtol=1e-4, atol=0)
    for gains in (ms_gains, pan_gains):
        assert ((gains > 0.6 - 1e-4) & (gains < 1.4 + 1e-4)).all()
        assert gains.std() > 0.1  # drawn per band and per patch, not one gain for all
    assert not torch.allclose(ms_gains[:, 0], pan_gains[:, 0])


def test_short_student_training_lowers_the_validation_loss_below_bicubic(student_run):
    result, progress, messages = student_run
    initial = result.history[0]["val_loss"]
    assert result.best_val_loss < 0.85 * initial
    assert result.metrics["l1"] == pytest.approx(result.best_val_loss, rel=1e-5)
    assert result.metrics["l1"] < result.metrics["bicubic_l1"]
    assert result.metrics["ergas"] < result.metrics["bicubic_ergas"]
    assert result.metrics["bicubic_q2n"] < result.metrics["q2n"] < 1.0
    assert result.metrics["validation_samples"] == 24
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert len(messages) == 30 and messages[0].startswith("student epoch 1/30: train loss")
    assert result.architecture == "pansharpen_lite" and result.distilled_from is None
    assert result.config == {"ms_bands": 4, "ratio": 4, "width": 8, "depth": 1, "detail_input": True,
                             "glp_window": 0}
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"


def test_teacher_then_distilled_student(samples, teacher_run):
    teacher_result = teacher_run
    phases = [entry["phase"] for entry in teacher_result.history]
    assert phases == ["psdnet_teacher"] * 3 + ["psdnet"] * 3
    assert teacher_result.best_val_loss < teacher_result.history[3]["val_loss"]
    assert isinstance(teacher_result.model, PSDNet) and not teacher_result.model.config.teacher
    assert teacher_result.distilled_from == "psdnet (ground-truth teacher)"

    teacher = teacher_result.model
    student_result = train_student(samples, _config(epochs=3), teacher=teacher, net_config=TINY_LITE)
    assert student_result.distilled_from == "psdnet"
    # the distillation terms change what the student learns (same seed, batches and start);
    # whether they help is the benchmarks' question, not this two-epoch teacher's
    plain = train_student(samples, _config(epochs=3), net_config=TINY_LITE)
    assert plain.history[0]["val_loss"] == student_result.history[0]["val_loss"]
    assert plain.history[1]["train_loss"] != student_result.history[1]["train_loss"]
    assert not torch.equal(plain.model.output.project.weight,
                           student_result.model.output.project.weight)
    # the adapter is not shipped, and the caller's teacher is left trainable and unchanged
    assert set(student_result.model.state_dict()) == set(PansharpenLite(TINY_LITE).state_dict())
    assert all(p.requires_grad for p in teacher.parameters())


def test_psdnet_feature_distillation_weight_changes_the_training(samples):
    privileged = PSDNet(dataclasses.replace(TINY_PSDNET, teacher=True))
    plain, distilled = (train_psdnet(samples, _config(epochs=1, feature_weight=weight),
                                     net_config=TINY_PSDNET, teacher=privileged)
                        for weight in (0.0, 10.0))
    assert plain.history[0]["val_loss"] == distilled.history[0]["val_loss"]  # same seed, same start
    assert plain.history[1]["train_loss"] != distilled.history[1]["train_loss"]


def test_psdnet_trains_on_spectrally_jittered_patches_too(samples):
    plain, jittered = (train_psdnet(samples, _config(epochs=1, spectral_jitter=jitter),
                                    net_config=TINY_PSDNET) for jitter in (0.0, 0.4))
    assert plain.history[0]["val_loss"] == jittered.history[0]["val_loss"]  # same start
    assert plain.history[1]["train_loss"] != jittered.history[1]["train_loss"]


def test_cancel_raises_cancelled(samples):
    calls = []

    def is_cancelled():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        train_student(samples, _config(), is_cancelled=is_cancelled, net_config=TINY_LITE)
    assert len(calls) == 4


def test_samples_for_another_band_count_are_refused(samples):
    with pytest.raises(InputError, match="8 bands"):
        train_student(samples, _config(), net_config=PansharpenLiteConfig(ms_bands=8, ratio=4))


# --- scene adaptation -----------------------------------------------------------------------

@pytest.mark.parametrize("run, iterations, learning_rate",
                         [("student_run", 150, 3e-3), ("teacher_run", 40, 1e-3)])
def test_adaptation_never_raises_the_reduced_resolution_loss_and_leaves_the_model_alone(
        run, iterations, learning_rate, request):
    result = request.getfixturevalue(run)
    net = (result[0] if isinstance(result, tuple) else result).model
    ms, pan = synthetic_scene(seed=1)  # a scene the model was not trained on
    original = {k: v.clone() for k, v in net.state_dict().items()}
    before = reduced_resolution_loss(net, ms, pan, 4)
    seen = []
    adapted = adapt_to_scene(net, ms, pan, 4, iterations=iterations,
                             learning_rate=learning_rate, progress=seen.append, patch_size=32, device="cpu")
    # a fine-tuned net only replaces the original when its held-back losses (degraded and at
    # the scene's own scale) allow it (test_scene_adaptation.py covers the improvement)
    assert reduced_resolution_loss(adapted, ms, pan, 4) <= before * 1.001
    assert adapted is not net and not adapted.training
    assert all(torch.equal(original[k], v) for k, v in net.state_dict().items())
    assert reduced_resolution_loss(net, ms, pan, 4) == before
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_adaptation_can_be_cancelled_and_refuses_teachers():
    ms, pan = synthetic_scene(ms_size=32)
    with pytest.raises(Cancelled):
        adapt_to_scene(PansharpenLite(TINY_LITE), ms, pan, 4, iterations=5, is_cancelled=lambda: True)
    teacher = PSDNet(dataclasses.replace(TINY_PSDNET, teacher=True))
    with pytest.raises(InputError, match="teacher"):
        adapt_to_scene(teacher, ms, pan, 4, iterations=5)
