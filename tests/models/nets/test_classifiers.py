"""Scene classifier nets, the class-centre and class-aware losses, and batch/triplet sampling."""
import pytest
import torch

from geodistill.models.training.class_aware import ClassAwareMarginLoss, TripletSampler
from geodistill.models.training.class_centric import (ClassCentreLoss, balanced_batch, teacher_centres,
                                                     teacher_logit_table)
from geodistill.models.training.train_classifier import dihedral
from geodistill.models.metrics.classification import classification_scores, per_class_accuracy
from geodistill.models.nets import build

TINY = {"resnet50_classifier": {"width": 8, "depths": (1, 1, 1, 1)},
        "resnet18_classifier": {"width": 8, "depths": (1, 1, 1, 1)},
        "mobilenetv2_classifier": {"width_multiplier": 0.25, "last_channels": 32}}


@pytest.mark.parametrize("name, parameters", [("resnet50_classifier", 25_557_032),
                                              ("resnet18_classifier", 11_689_512),
                                              ("mobilenetv2_classifier", 3_504_872)])
def test_full_size_nets_have_the_papers_parameter_counts(name, parameters):
    net = build(name, {"classes": 1000})
    assert sum(p.numel() for p in net.parameters()) == parameters


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_and_gradients(name):
    torch.manual_seed(0)
    net = build(name, {"bands": 4, "classes": 5, "input_size": 40, **TINY[name]})
    images = torch.randn(3, 4, 40, 40)
    logits, features = net.forward_features(images)
    assert logits.shape == (3, 5)
    assert features["embedding"].shape == (3, net.embedding_channels)
    assert len(features["stages"]) == 3 and features["stages"][-1] is features["embedding"]
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert float(net.head.weight.grad.abs().sum()) > 0
    net.eval()
    assert torch.allclose(net(images), net.forward_features(images)[0])


def test_class_centre_loss_is_zero_when_centres_coincide():
    centres = torch.tensor([[1.0, 2.0], [-1.0, 0.0], [5.0, 5.0]])
    loss = ClassCentreLoss(centres, student_dim=2)
    # class 0 features scattered around (1, 2), class 1 around (-1, 0); class 2 absent
    features = torch.tensor([[0.0, 2.0], [2.0, 2.0], [-1.0, 1.0], [-1.0, -1.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    assert loss(features, labels).item() == 0.0
    shifted = features + torch.tensor([1.0, 0.0])
    # both centres off by (1, 0): mean squared error over 2 classes x 2 dims = 2 / 4
    assert loss(shifted, labels).item() == pytest.approx(0.5)


def test_class_centre_loss_projects_students_of_other_width_and_leaves_the_teacher_alone():
    centres = torch.randn(3, 6)
    loss = ClassCentreLoss(centres, student_dim=4)
    features = torch.randn(6, 4, requires_grad=True)
    value = loss(features, torch.tensor([0, 0, 1, 1, 2, 2]))
    value.backward()
    assert features.grad is not None and loss.projection.weight.grad is not None
    assert not loss.teacher_centres.requires_grad and [n for n, _ in loss.named_parameters()] == \
        ["projection.weight", "projection.bias"]


def test_teacher_centres_are_class_means():
    features = torch.tensor([[1.0], [3.0], [10.0], [20.0], [30.0]])
    labels = torch.tensor([0, 0, 2, 2, 2])
    centres = teacher_centres(lambda batch: batch, lambda i: features[i], labels, classes=3,
                              batch_size=2)
    assert centres.flatten().tolist() == [2.0, 0.0, 20.0]


def test_teacher_logit_table_holds_every_sample_in_every_view():
    calls = []

    def logits(indices, view):
        calls.append((indices.tolist(), view))
        return torch.stack([indices.float() * 10 + view, -indices.float()], dim=1)

    table = teacher_logit_table(logits, count=5, views=3, batch_size=2)
    assert table.shape == (5, 3, 2)
    assert table[4, 2].tolist() == [42.0, -4.0] and table[1, 0].tolist() == [10.0, -1.0]
    assert len(calls) == 9 and sorted({v for _, v in calls}) == [0, 1, 2]


def test_balanced_batch_groups_classmates_and_skips_held_out_samples():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, -1, 2])  # sample 6 is held out
    batch = balanced_batch(torch.tensor([0, 4]), labels, per_class=3,
                           generator=torch.Generator().manual_seed(0))
    assert len(batch) == 6
    assert labels[batch[:3]].tolist() == [0, 0, 0] and labels[batch[3:]].tolist() == [1, 1, 1]
    assert 6 not in batch.tolist() and batch[0] == 0 and batch[3] == 4
    assert 0 not in batch[1:3].tolist() and 4 not in batch[4:].tolist()


def test_triplet_sampler_picks_same_class_and_the_confused_class():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, -1])
    sampler = TripletSampler(labels, classes=3, smoothing=0.0)
    # the model mistakes class 0 for class 2 (and never for class 1)
    sampler.record(torch.tensor([0, 0, 2, 1]), torch.tensor([2, 2, 0, 1]))
    anchors = torch.tensor([0, 1, 2] * 10)
    same, other = sampler.sample(anchors)
    assert (labels[same] == 0).all() and (same != anchors).all()
    assert (labels[other] == 2).all()
    assert 8 not in same.tolist() + other.tolist()
    weights = sampler.similar_class_weights(1)
    assert weights.tolist() == [0.0, 0.0, 0.0]  # class 1 was never confused: nothing to prefer
    with pytest.raises(ValueError, match="two classes"):
        sampler.sample(torch.tensor([3]))


def test_triplet_sampler_smoothing_lets_every_other_class_be_picked():
    labels = torch.tensor([0, 0, 1, 2])
    sampler = TripletSampler(labels, classes=3, smoothing=1.0, seed=1)
    _, other = sampler.sample(torch.zeros(200, dtype=torch.long))
    assert set(labels[other].tolist()) == {1, 2}


def test_class_aware_margin_loss_value_and_trainable_margin():
    loss = ClassAwareMarginLoss(initial_margin=1.0, min_margin=0.1, temperature=1.0)
    assert loss.alpha.item() == pytest.approx(1.0)
    anchor = torch.tensor([[2.0, 0.0, 0.0]], requires_grad=True)
    same = torch.tensor([[2.0, 0.0, 0.0]])
    other = torch.tensor([[1.0, 1.5, 0.0]])
    farther = loss.divergence(other, anchor).item()
    assert loss.divergence(same, anchor).item() == pytest.approx(0.0, abs=1e-7)
    assert 0 < farther < 1  # so the hinge is active: L = 0 - farther + alpha
    assert loss(anchor, same, other).item() == pytest.approx(1.0 - farther, abs=1e-6)
    # a far-away "other" distribution puts the triplet beyond the margin: no loss
    far = torch.tensor([[0.0, 20.0, 0.0]])
    assert loss(anchor, same, far).item() == 0.0
    loss(anchor, other, same).backward()
    assert loss.raw_alpha.grad is not None and float(loss.raw_alpha.grad) > 0
    assert anchor.grad is not None


def test_dihedral_turns_and_flips():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    batch = image.repeat(8, 1, 1, 1)
    out = dihedral(batch, torch.arange(8))
    assert torch.equal(out[0], image[0]) and torch.equal(out[1], torch.rot90(image[0], 1, (1, 2)))
    assert torch.equal(out[4], image[0].flip(2))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8


def test_classification_scores_by_hand():
    truth = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 1, 0]
    scores = classification_scores(truth, predicted, 3)
    assert scores["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert scores["overall_accuracy"] == pytest.approx(4 / 6)
    # expected agreement: (3*3 + 2*3 + 1*0) / 36
    assert scores["kappa"] == pytest.approx((4 / 6 - 15 / 36) / (1 - 15 / 36))
    assert per_class_accuracy([[2, 1], [0, 0]])[0] == pytest.approx(2 / 3)
    assert scores["per_class_accuracy"][:2] == pytest.approx([2 / 3, 1.0])
