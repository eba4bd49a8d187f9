"""The zero head the distillation recipe gives every student, and the CCC
loss's scale trap it keeps them from (real speech, real students)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fitted_students import descriptors, speech_crops
from hyperpyyaml import load_hyperpyyaml

from speechbrain_wav2small.objectives import ccc_loss
from speechbrain_wav2small.students import STUDENTS, build_student
from speechbrain_wav2small.training.head_init import (
    distillation_student,
    zero_head,
)

REPO = Path(__file__).resolve().parents[1]
DISTILL_YAML = REPO / "recipes/MSP-Podcast/distill/hparams/distill.yaml"


def ccc_training_run(model, steps=30, lr=2e-3):
    """Adam on the CCC loss: half-second crops of real speech, targets that
    follow three acoustic descriptors. Returns the losses and the last
    batch's mean prediction std."""
    clips = [clip[:8000] for clip in speech_crops(per_clip=16, seed=0)]
    wavs = torch.from_numpy(
        np.stack([np.pad(clip, (0, 8000 - len(clip))) for clip in clips])
    )
    targets = np.array([descriptors(clip) for clip in clips])
    targets = (targets - targets.mean(0)) / targets.std(0) * 0.1 + 0.5
    targets = torch.tensor(targets, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    order = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        batch = torch.randperm(len(wavs), generator=order)[:16]
        predictions = model(wavs[batch], torch.ones(16))
        loss = ccc_loss(predictions, targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, predictions.std(0).mean().item()


def test_mobilenet_escapes_the_ccc_scale_trap_with_a_zero_head():
    torch.manual_seed(0)
    trapped, trapped_std = ccc_training_run(build_student("mobilenetv3_small"))
    torch.manual_seed(0)
    learned, learned_std = ccc_training_run(
        zero_head(build_student("mobilenetv3_small"))
    )
    print("default head:", trapped[-10:], trapped_std)
    print("zero head:", learned[-10:], learned_std)
    # timm's random head: predictions blow up (targets' std is 0.1) and the
    # loss sits at 1.00, where its gradient has vanished.
    assert np.mean(trapped[-10:]) > 0.95
    assert trapped_std > 10
    # Zero head: the same student, steps and data learn the targets.
    assert np.mean(learned[-10:]) < 0.75
    assert learned_std < 1


# The released-size Wav2Small keeps its random head (see its YAML).
RANDOM_HEAD = {"wav2small"}


@pytest.mark.parametrize("student", list(STUDENTS))
def test_distillation_recipe_builds_each_student_with_its_head(student):
    with open(DISTILL_YAML, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(
            stream, {"data_folder": "unused", "student": student}
        )
    model = hparams["modules"]["student"]
    assert model is hparams["student_model"]
    head_sum = model.head.weight.abs().sum() + model.head.bias.abs().sum()
    if student in RANDOM_HEAD:
        assert head_sum > 0
    else:
        assert head_sum == 0
    # The rest of the network keeps its random initialisation.
    assert any(
        parameter.abs().sum() > 0
        for name, parameter in model.named_parameters()
        if not name.startswith(("head.", "backbone.classifier."))
    )


def test_a_student_yaml_without_the_setting_starts_from_a_zero_head(tmp_path):
    text = (REPO / "hparams/students/wav2small.yaml").read_text()
    assert "zero_head: False" in text
    custom = tmp_path / "my_student.yaml"
    custom.write_text(text.replace("zero_head: False", "other: 1"))
    assert distillation_student(str(custom)).head.weight.abs().sum() == 0
    assert distillation_student("wav2small").head.weight.abs().sum() > 0


def test_zero_head_names_a_model_without_a_linear_head():
    with pytest.raises(TypeError, match="Sequential has no linear 'head'"):
        zero_head(torch.nn.Sequential(torch.nn.Linear(2, 3)))
