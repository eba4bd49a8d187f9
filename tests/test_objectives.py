"""CCC metric, loss and corpus statistic against an independent version."""

import numpy as np
import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_wav2small.objectives import CCCLoss, CCCStats, ccc, ccc_loss


def numpy_ccc(x, y):
    """Lin's CCC through Pearson's r: 2 r sx sy / (sx² + sy² + (mx - my)²)."""
    r = np.corrcoef(x, y)[0, 1]
    sx, sy = np.std(x), np.std(y)
    return 2 * r * sx * sy / (sx**2 + sy**2 + (np.mean(x) - np.mean(y)) ** 2)


@pytest.mark.parametrize("n_items", [2, 7, 1000])
def test_ccc_equals_independent_implementation(n_items):
    rng = np.random.default_rng(n_items)
    targets = rng.uniform(size=(n_items, 3))
    predictions = 0.6 * targets + rng.normal(0.1, 0.2, size=(n_items, 3))
    ours = ccc(torch.from_numpy(predictions), torch.from_numpy(targets))
    expected = [numpy_ccc(predictions[:, d], targets[:, d]) for d in range(3)]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-6)


def test_ccc_limits():
    y = torch.linspace(0, 1, 50)
    assert float(ccc(y, y)) == pytest.approx(1.0)
    assert float(ccc(1 - y, y)) == pytest.approx(-1.0)
    # Perfectly correlated but shifted or scaled predictions lose concordance.
    assert float(ccc(y + 0.5, y)) < 0.5
    assert float(ccc(0.1 * y, y)) < 0.3


def test_ccc_is_nan_with_warning_when_undefined():
    with pytest.warns(RuntimeWarning, match="1 item"):
        assert torch.isnan(
            ccc(torch.tensor([[0.3, 0.2, 0.1]]), torch.zeros(1, 3))
        ).all()
    constant = torch.full((5, 3), 0.5)
    varying = torch.rand(5, 3)
    with pytest.warns(RuntimeWarning, match=r"column\(s\) \[1\]"):
        result = ccc(
            torch.cat([varying[:, :1], constant[:, :1], varying[:, 2:]], 1),
            torch.cat([varying[:, :1], constant[:, :1], varying[:, 2:]], 1),
        )
    assert torch.isnan(result[1]) and not torch.isnan(result[[0, 2]]).any()
    # Constant but different: defined, and zero.
    assert float(ccc(torch.full((4,), 0.2), torch.full((4,), 0.7))) == 0.0


def test_ccc_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        ccc(torch.rand(4, 3), torch.rand(5, 3))


def test_loss_is_one_minus_ccc_and_weighted():
    predictions, targets = torch.rand(64, 3), torch.rand(64, 3)
    per_dimension = 1 - ccc(predictions, targets)
    assert float(CCCLoss()(predictions, targets)) == pytest.approx(
        float(per_dimension.mean()), abs=1e-5
    )
    weighted = CCCLoss(weights=[1, 0, 3])(predictions, targets)
    expected = (per_dimension[0] + 3 * per_dimension[2]) / 4
    assert float(weighted) == pytest.approx(float(expected), abs=1e-5)
    with pytest.raises(ValueError, match="2 weights given for 3"):
        ccc_loss(predictions, targets, weights=[1, 2])


def test_loss_gradients_are_finite_even_for_degenerate_batches():
    for predictions in (
        torch.rand(8, 3),
        torch.full((8, 3), 0.5),
        torch.rand(1, 3),
    ):
        predictions.requires_grad_(True)
        loss = CCCLoss()(
            predictions, torch.full((predictions.shape[0], 3), 0.5)
        )
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(predictions.grad).all()


def test_loss_accepts_float64_targets_from_padded_batch():
    predictions = torch.rand(4, 3, requires_grad=True)
    loss = CCCLoss()(predictions, torch.rand(4, 3, dtype=torch.float64))
    assert loss.dtype == torch.float32


def test_stats_compute_corpus_ccc_not_batch_average():
    rng = np.random.default_rng(0)
    # Three batches at three levels; inside a batch, predictions and
    # targets are unrelated noise around the level. Per batch CCC is about
    # zero, over the corpus it is high: averaging batches would be wrong.
    levels = torch.repeat_interleave(torch.tensor([0.1, 0.5, 0.9]), 10)
    levels = levels.unsqueeze(1).double()
    targets = levels + torch.from_numpy(rng.normal(0, 0.02, size=(30, 3)))
    predictions = levels + torch.from_numpy(rng.normal(0, 0.02, size=(30, 3)))
    stats = CCCStats()
    batch_values = []
    for start in range(0, 30, 10):
        rows = slice(start, start + 10)
        ids = [f"utt{i}" for i in range(start, start + 10)]
        stats.append(ids, predictions[rows], targets[rows])
        batch_values.append(ccc(predictions[rows], targets[rows]))
    summary = stats.summarize()
    corpus = ccc(predictions, targets)
    assert summary["ccc"] == pytest.approx(float(corpus.mean()), abs=1e-9)
    for name, value in zip(
        ("arousal", "dominance", "valence"), corpus, strict=True
    ):
        assert summary[f"ccc_{name}"] == pytest.approx(float(value), abs=1e-9)
    batch_average = float(torch.stack(batch_values).mean())
    assert summary["ccc"] > 0.95 and batch_average < 0.5


def test_stats_reject_wrong_shapes_and_report_nan_when_empty():
    stats = CCCStats()
    with pytest.raises(ValueError, match="must be \\[2, 3\\]"):
        stats.append(["a", "b"], torch.rand(2, 2), torch.rand(2, 2))
    with pytest.warns(RuntimeWarning):
        summary = stats.summarize()
    assert np.isnan(summary["ccc"])


def test_stats_drive_checkpointer_max_keys(tmp_path):
    model = torch.nn.Linear(2, 3)
    checkpointer = Checkpointer(tmp_path, {"model": model})
    for epoch, noise in enumerate([0.5, 0.05, 0.3]):
        targets = torch.rand(40, 3)
        stats = CCCStats()
        stats.append(
            [str(i) for i in range(40)],
            targets + noise * torch.randn(40, 3),
            targets,
        )
        # Named: SpeechBrain names checkpoints by the second, and reuses a
        # deleted name within one second (then keeps both).
        checkpointer.save_and_keep_only(
            meta={"epoch": epoch, **stats.summarize()},
            name=f"epoch{epoch}",
            # SpeechBrain's default list is shared by all calls in a
            # process, and keep_recent elsewhere appends to it.
            importance_keys=[],
            max_keys=["ccc"],
            num_to_keep=1,
            keep_recent=False,
        )
    best = checkpointer.find_checkpoint(max_key="ccc")
    assert best.meta["epoch"] == 1
    assert len(list(tmp_path.glob("CKPT*"))) == 1
