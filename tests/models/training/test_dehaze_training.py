"""Dehazing losses, knowledge-transfer wiring and the KTDN training loops."""
import dataclasses

import numpy as np
import pytest
import torch

from geodistill.models.data.haze import DehazeSamples, make_dehaze_pairs
from geodistill.models.training.dehaze_losses import colour_loss, knowledge_transfer_loss, \
    laplacian_pyramid, laplacian_pyramid_loss, rgb_to_lab
from geodistill.models.training.train_dehaze import DehazingObjective, TrainConfig, train_dehazer, \
    train_student, train_teacher
from geodistill.models.errors import Cancelled, InputError
from geodistill.models.nets import build
from geodistill.models.nets.ktdn import KTDN, DehazeLiteConfig, KTDNConfig, KTDNTeacherConfig
from hazy_scenes import clear_scene

TINY_KTDN = KTDNConfig(bands=3, encoder_depths=(1, 1, 1), encoder_planes=(16, 32, 64),
                       stem_width=16, sr_width=16, sr_blocks=1)
TINY_TEACHER = KTDNTeacherConfig(bands=3, encoder_depths=(1, 1, 1), encoder_planes=(8, 32, 64),
                                 stem_width=16, bottleneck_width=256)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pairs() -> DehazeSamples:
    images = [clear_scene(size=128, seed=seed) for seed in range(3)]
    return make_dehaze_pairs(images, 32, 48, np.random.default_rng(0), thickness=(0.2, 0.6))


def _config(**changes) -> TrainConfig:
    values = dict(epochs=8, batch_size=4, learning_rate=2e-3, patience=10, validation_fraction=0.25,
                  seed=0, device="cpu")
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def teacher(pairs):
    return train_teacher(pairs.clear, _config(), net_config=TINY_TEACHER)


# --- losses ---------------------------------------------------------------------------------

def test_laplacian_pyramid_sees_a_constant_shift_only_in_its_low_pass_level():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    levels = laplacian_pyramid(x, levels=5)
    assert [tuple(level.shape[-2:]) for level in levels] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert laplacian_pyramid_loss(x, x).item() == 0.0
    assert laplacian_pyramid_loss(x + 0.25, x).item() == pytest.approx(0.25)


def test_lab_of_white_black_and_pure_red_and_colour_loss_only_for_rgb():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 3)
    lab = rgb_to_lab(rgb.double())[0, :, 0].T
    torch.testing.assert_close(lab[0], torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64), atol=0.01, rtol=0)
    torch.testing.assert_close(lab[1], torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(lab[2], torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.05, rtol=0)
    image = torch.rand(2, 3, 8, 8)
    assert colour_loss(image, image).item() == 0.0 and colour_loss(image, image * 0.5).item() > 0
    assert colour_loss(torch.rand(2, 8, 8, 8), torch.rand(2, 8, 8, 8)).item() == 0.0


def test_knowledge_transfer_is_an_l1_that_moves_only_the_student():
    student = {"bottleneck": torch.zeros(2, 4, 3, 3, requires_grad=True)}
    teacher = {"bottleneck": torch.full((2, 4, 3, 3), 0.5, requires_grad=True)}
    loss = knowledge_transfer_loss(student, teacher)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert student["bottleneck"].grad.abs().sum() > 0 and teacher["bottleneck"].grad is None
    with pytest.raises(ValueError, match="adapt"):
        knowledge_transfer_loss({"bottleneck": torch.zeros(1, 2, 3, 3)}, teacher)


# --- knowledge-transfer wiring ----------------------------------------------------------------

@pytest.mark.parametrize("student_config", [TINY_KTDN, DehazeLiteConfig(bands=3)])
def test_transfer_pulls_the_student_bottleneck_and_leaves_the_teacher_alone(pairs, teacher,
                                                                            student_config):
    torch.manual_seed(0)
    student = KTDN(student_config)
    original_teacher = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    objective = DehazingObjective(student, _config(transfer_weight=10.0), torch.device("cpu"),
                                  teacher=teacher.model)
    assert (objective.adapter is None) == (student_config is TINY_KTDN)  # 256 = 256 channels
    optimizer = torch.optim.Adam(list(student.parameters()) + objective.parameters, lr=2e-3)
    hazy, clear = torch.from_numpy(pairs.hazy[:8]), torch.from_numpy(pairs.clear[:8])
    transfer = []
    for _ in range(6):
        terms = objective.terms(hazy, clear)
        transfer.append(terms["transfer"].item())
        loss = objective(hazy, clear)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert transfer[-1] < 0.8 * transfer[0]
    assert all(p.grad is None and not p.requires_grad for p in objective.teacher.parameters())
    for key, value in teacher.model.state_dict().items():
        assert torch.equal(value, original_teacher[key]), key


def test_objective_is_the_weighted_sum_of_its_terms(pairs, teacher):
    torch.manual_seed(0)
    config = _config()
    big = KTDN(TINY_KTDN).eval()
    student = KTDN(DehazeLiteConfig(bands=3)).eval()
    objective = DehazingObjective(student, config, torch.device("cpu"), teacher=teacher.model,
                                  big_net=big)
    hazy, clear = torch.from_numpy(pairs.hazy[:4]), torch.from_numpy(pairs.clear[:4])
    with torch.no_grad():
        terms = objective.terms(hazy, clear)
        total = objective(hazy, clear)
    assert set(terms) == {"l1", "laplacian", "colour", "transfer", "distill"}
    expected = (terms["l1"] + 0.3 * terms["laplacian"] + 0.5 * terms["colour"]
                + 1.0 * terms["transfer"] + 0.5 * terms["distill"])
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(terms["distill"], (student(hazy) - big(hazy)).abs().mean())


# --- training loops ---------------------------------------------------------------------------

def test_teacher_learns_to_reconstruct_clear_patches(teacher):
    history = [entry["val_loss"] for entry in teacher.history]
    assert teacher.best_val_loss < 0.85 * history[0]
    assert teacher.architecture == "ktdn_teacher" and teacher.distilled_from is None
    assert set(teacher.metrics) == {"psnr", "ssim", "l1", "validation_samples"}
    assert teacher.metrics["l1"] == pytest.approx(teacher.best_val_loss)


@pytest.mark.slow
def test_short_training_lowers_the_validation_loss_with_and_without_transfer(pairs, teacher):
    progress = []
    with_transfer = train_dehazer(pairs, _config(), teacher.model, progress=progress.append,
                                  net_config=TINY_KTDN)
    alone = train_dehazer(pairs, _config(), None, net_config=TINY_KTDN)
    for result in (with_transfer, alone):
        untrained = result.history[0]["val_loss"]
        assert result.best_val_loss < 0.8 * untrained
        assert result.metrics["psnr"] > result.metrics["input_psnr"] + 0.3  # better than the input
        assert result.metrics["validation_samples"] == 12
        assert result.architecture == "ktdn" and not result.model.training
    assert with_transfer.distilled_from == "ktdn_teacher (knowledge transfer)"
    assert alone.distilled_from is None
    assert progress == sorted(progress) and progress[-1] == 1.0
    rebuilt = build(with_transfer.architecture, with_transfer.config)
    rebuilt.load_state_dict(with_transfer.model.state_dict())


@pytest.mark.slow
def test_lite_student_is_distilled_from_teacher_and_big_net(pairs, teacher):
    big = train_dehazer(pairs, _config(epochs=2), teacher.model, net_config=TINY_KTDN)
    student = train_student(pairs, _config(), teacher.model, big.model)
    assert student.architecture == "dehaze_lite"
    assert student.distilled_from == "ktdn_teacher (knowledge transfer) + ktdn (outputs)"
    assert student.best_val_loss < 0.8 * student.history[0]["val_loss"]
    assert set(student.model.state_dict()) == set(KTDN(DehazeLiteConfig()).state_dict())  # no adapter


def test_multispectral_training_has_no_colour_term():
    images = [clear_scene(bands=8, size=64, seed=seed) for seed in range(2)]
    samples = make_dehaze_pairs(images, 32, 16, np.random.default_rng(1))
    result = train_student(samples, _config(epochs=2))
    assert result.config["bands"] == 8 and result.model(torch.rand(1, 8, 32, 32)).shape == (1, 8, 32, 32)
    objective = DehazingObjective(result.model, _config(), torch.device("cpu"))
    terms = objective.terms(torch.from_numpy(samples.hazy[:2]), torch.from_numpy(samples.clear[:2]))
    assert terms["colour"].item() == 0.0 and set(terms) == {"l1", "laplacian", "colour"}


def test_cancel_raises_cancelled(pairs):
    calls = []

    def cancel_on_third_check() -> bool:
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Cancelled, match="cancelled"):
        train_student(pairs, _config(), is_cancelled=cancel_on_third_check)
    assert len(calls) == 3


def test_mismatched_bands_and_patch_sizes_are_refused(pairs, teacher):
    with pytest.raises(InputError, match="configured for 8"):
        train_dehazer(pairs, _config(), net_config=dataclasses.replace(TINY_KTDN, bands=8))
    odd = DehazeSamples(pairs.hazy[:, :, :24, :24], pairs.clear[:, :, :24, :24])
    with pytest.raises(InputError, match="multiples of 32"):
        train_student(odd, _config())
