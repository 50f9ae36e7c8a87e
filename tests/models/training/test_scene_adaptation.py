"""Scene adaptation with early stopping on a held-back part, and the teacher-distillation data."""
import numpy as np
import pytest
import torch

from test_distill_pansharpen import TINY_LITE, synthetic_scene

from geodistill.models.data.pansharpen_teacher_pairs import multi_sensor_pairs, teacher_pairs
from geodistill.models.training.scene_adaptation import adapt_to_scene, reduced_resolution_loss, split_held_back
from geodistill.models.training.train_pansharpen import TrainConfig, fine_tune_teacher
from geodistill.models.nets.pansharpen_lite import PansharpenLite
from geodistill.models.nets.pansharpen_teachers import DiCNN, TeacherConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_held_back_part_is_the_right_quarter_in_whole_tile_multiples():
    ms, pan = synthetic_scene(ms_size=48)
    (train_ms, train_pan), (held_ms, held_pan) = split_held_back(ms, pan, 4, 4)
    assert held_ms.shape[2] == 12 and train_ms.shape[2] == 36
    assert np.array_equal(held_ms, ms[:, :, 36:]) and np.array_equal(held_pan, pan[:, :, 144:])
    assert train_pan.shape[2] == 4 * train_ms.shape[2]
    small_ms, small_pan = ms[:, :12, :12], pan[:, :48, :48]
    train, held = split_held_back(small_ms, small_pan, 4, 4)
    assert train[0] is small_ms and held[0] is small_ms  # too narrow: used whole for both


def test_adaptation_that_only_hurts_keeps_the_original_weights():
    torch.manual_seed(0)
    net = PansharpenLite(TINY_LITE)
    ms, pan = synthetic_scene(ms_size=48, seed=1)
    lines = []
    # a rate this high wrecks the weights at once: the held-back part never scores better
    adapted = adapt_to_scene(net, ms, pan, 4, iterations=200, learning_rate=30.0, patch_size=32,
                             device="cpu", log=lines.append)
    assert all(torch.equal(a, b) for a, b in zip(adapted.state_dict().values(),
                                                 net.state_dict().values()))
    assert "did not improve" in lines[0]
    assert "in 100 iterations" in lines[0]  # stopped after PATIENCE_CHECKS scores


@pytest.mark.slow
def test_adaptation_stops_early_and_improves_the_held_back_part():
    torch.manual_seed(0)
    net = PansharpenLite(TINY_LITE)
    ms, pan = synthetic_scene(ms_size=48, seed=1)
    _, (held_ms, held_pan) = split_held_back(ms, pan, 4, 4)
    before = reduced_resolution_loss(net, held_ms, held_pan, 4)
    lines = []
    adapted = adapt_to_scene(net, ms, pan, 4, iterations=100000, learning_rate=3e-3, patch_size=32,
                             device="cpu", log=lines.append, time_limit=20.0)
    after = reduced_resolution_loss(adapted, held_ms, held_pan, 4)
    assert after < 0.9 * before
    ran = int(lines[0].split(" of ")[1].split(",")[0])
    assert ran < 100000  # stopped by patience or the time box, not by the iteration count
    assert f"{after:.5f}" in lines[0]


def test_multi_sensor_pairs_degrade_with_each_table():
    ms, pan = synthetic_scene(ms_size=32)
    samples = multi_sensor_pairs(ms, pan, 4, ["generic", "geoeye1"], 32, 5, np.random.default_rng(0))
    assert len(samples) == 10 and samples.ratio == 4
    # same places cut twice (the generator moves on) but with another blur: the MS differs
    assert not np.allclose(samples.ms_lr[:5].std(), samples.ms_lr[5:].std(), rtol=1e-6)


def test_teacher_pairs_hold_the_teachers_output_at_full_resolution():
    torch.manual_seed(0)
    teacher = DiCNN(TeacherConfig(ms_bands=4, ratio=4)).eval()
    ms, pan = synthetic_scene(ms_size=32)
    pairs = teacher_pairs(teacher, ms, pan, 4, 32, 6, np.random.default_rng(0))
    assert pairs.ms_lr.shape == (6, 4, 8, 8) and pairs.target.shape == (6, 4, 32, 32)
    with torch.no_grad():
        whole = teacher(torch.as_tensor(ms)[None], torch.as_tensor(pan)[None])[0].numpy()
    for index in range(6):
        found = np.argwhere(np.all(np.isclose(ms[:, :, :], pairs.ms_lr[index][:, :1, :1]), axis=0))
        top, left = found[0]
        rows, cols = slice(top * 4, top * 4 + 32), slice(left * 4, left * 4 + 32)
        np.testing.assert_allclose(pairs.target[index], whole[:, rows, cols], atol=1e-5)
        np.testing.assert_array_equal(pairs.pan_lr[index], pan[:, rows, cols])


def test_fine_tuning_a_published_teacher_lowers_its_loss_and_keeps_the_original():
    torch.manual_seed(0)
    teacher = DiCNN(TeacherConfig(ms_bands=4, ratio=4))
    original = {k: v.clone() for k, v in teacher.state_dict().items()}
    ms, pan = synthetic_scene(ms_size=48)
    samples = multi_sensor_pairs(ms, pan, 4, ["generic"], 32, 64, np.random.default_rng(0))
    result = fine_tune_teacher(samples, TrainConfig(epochs=6, batch_size=8, patience=6,
                                                    validation_fraction=0.25, device="cpu"), teacher)
    history = [entry["val_loss"] for entry in result.history]
    assert min(history[1:]) < 0.9 * history[0]
    assert result.architecture == "dicnn" and "pretrained" in result.distilled_from
    assert all(torch.equal(original[k], v) for k, v in teacher.state_dict().items())
