"""Checkpoints survive a process killed in the middle of saving one.

A real child process saves a good checkpoint, then is SIGKILLed by its own
save hook after ``model.ckpt`` is written and before the save ends: with
SpeechBrain's ``Checkpointer`` that leaves a folder recovery picks and
cannot load; with :class:`AtomicCheckpointer` recovery removes it and
loads the good one.
"""

import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_wav2small.training.checkpointing import AtomicCheckpointer

CHILD = textwrap.dedent(
    """
    import os, signal, sys, torch
    import speechbrain.utils.checkpoints as checkpoints
    from speechbrain_wav2small.training import checkpointing

    kind, folder = sys.argv[1], sys.argv[2]
    cls = {"atomic": checkpointing.AtomicCheckpointer,
           "speechbrain": checkpoints.Checkpointer}[kind]
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    checkpointer = cls(folder, {"model": model})
    checkpointer.save_checkpoint(name="good")
    with torch.no_grad():
        model.weight.add_(1.0)

    def killed(obj, path):
        os.kill(os.getpid(), signal.SIGKILL)

    checkpointer.add_recoverable(
        "optimizer_state", torch.nn.Linear(1, 1), custom_save_hook=killed
    )
    checkpointer.save_checkpoint(name="interrupted")
    """
)


def _killed_mid_save(kind, folder):
    """Runs the child; returns the weights of its good checkpoint."""
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-2000:]
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3).weight.detach().clone()


def test_speechbrain_checkpointer_recovers_a_broken_checkpoint(tmp_path):
    """The failure this module exists for (so the next test can fail)."""
    _killed_mid_save("speechbrain", tmp_path)
    checkpointer = Checkpointer(tmp_path, {"model": torch.nn.Linear(4, 3)})
    names = sorted(c.path.name for c in checkpointer.list_checkpoints())
    assert names == ["CKPT+good", "CKPT+interrupted"]


def test_atomic_checkpointer_recovers_the_last_complete_one(tmp_path):
    good_weights = _killed_mid_save("atomic", tmp_path)
    assert (tmp_path / "CKPT+interrupted" / "model.ckpt").exists()
    assert not (tmp_path / "CKPT+interrupted" / "CKPT.yaml").exists()
    model = torch.nn.Linear(4, 3)
    checkpointer = AtomicCheckpointer(tmp_path, {"model": model})
    recovered = checkpointer.recover_if_possible()
    assert recovered.path.name == "CKPT+good"
    assert torch.equal(model.weight, good_weights)
    assert not (tmp_path / "CKPT+interrupted").exists()
    # And saving goes on as usual afterwards.
    checkpointer.save_and_keep_only(meta={"loss": 1.0}, min_keys=["loss"])
    assert len(checkpointer.list_checkpoints()) == 1


@pytest.mark.parametrize("hparams", ["teacher", "distill"])
def test_recipes_use_it(hparams):
    """Both recipes' checkpointers are the atomic one."""
    from pathlib import Path

    folder = Path(__file__).parents[1] / "recipes" / "MSP-Podcast" / hparams
    text = "\n".join(p.read_text() for p in folder.glob("hparams/*.yaml"))
    assert "checkpointer: !new:speechbrain.utils.checkpoints" not in text
    assert (
        "!new:speechbrain_wav2small.training.checkpointing."
        "AtomicCheckpointer" in text
    )
