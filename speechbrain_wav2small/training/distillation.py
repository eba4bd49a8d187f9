"""Distillation: a student learns the teacher's arousal, dominance, valence.

The student never sees a human label. Its targets come either from a
pseudo-label cache (``batch.teacher_targets``) or from the teacher on the
fly, in which case the teacher labels the very waveform the student sees,
after augmentation and mixup.

Training uses the CCC loss; validation reports the corpus-level CCC against
the teacher (the quantity distillation optimises) and keeps the best
checkpoint by it. The test stage also scores against human labels when the
test set has them (``batch.targets``) and writes a report.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
import os

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.objectives import CCCStats
from speechbrain_wav2small.training.reporting import (
    append_history,
    update_results,
    write_challenge_csv,
    write_test_report,
)
from speechbrain_wav2small.utils.distributed import CPUDistributedMixin

logger = logging.getLogger(__name__)


class DistillationBrain(CPUDistributedMixin, sb.Brain):
    """Trains ``modules.student`` on teacher targets with the CCC loss.

    Hyperparameters read (see ``recipes/MSP-Podcast/distill``):
    ``compute_cost`` (a CCC loss), ``wav_augment`` (optional SpeechBrain
    ``Augmenter``), ``mixup_alpha`` and ``mixup_prob``, ``epoch_counter``,
    ``train_logger``, ``lr_annealing`` (optional), ``output_folder``.

    Arguments
    ---------
    *args, **kwargs
        As for :class:`speechbrain.Brain`.
    teacher : torch.nn.Module, optional
        Frozen teacher for on-the-fly targets. Kept out of ``modules`` on
        purpose: Brain puts every module back into train mode each epoch,
        which would switch the teacher's dropout on.

    Example
    -------
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> from speechbrain_wav2small.objectives import CCCLoss
    >>> brain = DistillationBrain(
    ...     modules={"student": Wav2Small(channels=4)},
    ...     hparams={"compute_cost": CCCLoss()},
    ...     run_opts={"device": "cpu"},
    ... )
    >>> batch = PaddedBatch([
    ...     {"id": "a", "sig": torch.randn(8000),
    ...      "teacher_targets": torch.rand(3)},
    ...     {"id": "b", "sig": torch.randn(6000),
    ...      "teacher_targets": torch.rand(3)},
    ... ])
    >>> brain.on_stage_start(sb.Stage.VALID)
    >>> outputs = brain.compute_forward(batch, sb.Stage.VALID)
    >>> loss = brain.compute_objectives(outputs, batch, sb.Stage.VALID)
    >>> loss.shape, brain.teacher_stats.ids
    (torch.Size([]), ['a', 'b'])
    """

    def __init__(self, *args, teacher=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher
        if teacher is not None:
            self.teacher = teacher.to(self.device).eval()
            self.teacher.requires_grad_(False)

    # -- forward ---------------------------------------------------------

    def compute_forward(self, batch, stage):
        """Augments (training only), finds targets, runs the student.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            With ``sig`` and, without an on-the-fly teacher,
            ``teacher_targets``.
        stage : speechbrain.Stage
            Augmentation and mixup apply to ``TRAIN`` only.

        Returns
        -------
        tuple
            (predictions [B, 3], teacher targets [B, 3]).
        """
        batch = batch.to(self.device)
        wavs, lengths = batch.sig
        targets = None
        if self.teacher is None:
            targets = batch.teacher_targets.data.float()
        if stage == sb.Stage.TRAIN:
            wavs, lengths, targets = self._augment(wavs, lengths, targets)
        if self.teacher is not None:
            with torch.no_grad():
                targets = self.teacher(wavs, lengths).float()
        predictions = self.modules.student(wavs, lengths)
        return predictions, targets

    def _augment(self, wavs, lengths, targets):
        """Waveform augmentation, then mixup: (wavs, lengths, targets)."""
        augment = getattr(self.hparams, "wav_augment", None)
        if augment is not None:
            n_before = wavs.shape[0]
            wavs, lengths = augment(wavs, lengths)
            if targets is not None and wavs.shape[0] != n_before:
                targets = augment.replicate_labels(targets)
        alpha = getattr(self.hparams, "mixup_alpha", 0.0)
        probability = getattr(self.hparams, "mixup_prob", 1.0)
        if alpha > 0 and float(torch.rand(1)) < probability:
            wavs, lengths, targets = mixup(wavs, lengths, targets, alpha)
        return wavs, lengths, targets

    def compute_objectives(self, predictions, batch, stage):
        """CCC loss against the teacher; accumulates test/valid statistics.

        Arguments
        ---------
        predictions : tuple
            The output of :meth:`compute_forward`.
        batch : speechbrain.dataio.batch.PaddedBatch
            The batch; at test time its ``targets`` (human labels), when
            present, are scored too.
        stage : speechbrain.Stage
            The current stage.

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        predictions, targets = predictions
        loss = self.hparams.compute_cost(predictions, targets)
        if stage != sb.Stage.TRAIN:
            self.teacher_stats.append(batch.id, predictions, targets)
        if stage == sb.Stage.TEST:
            self.test_rows.append((batch.id, predictions.detach().cpu()))
            if hasattr(batch, "targets"):
                human = batch.targets.data.float()
                self.human_stats.append(batch.id, predictions, human)
                self.human_targets.append(human.cpu())
        return loss

    # -- stages ----------------------------------------------------------

    def on_stage_start(self, stage, epoch=None):
        """Fresh statistics for every evaluation stage.

        Arguments
        ---------
        stage : speechbrain.Stage
            The stage about to run.
        epoch : int, optional
            The current epoch.
        """
        if stage != sb.Stage.TRAIN:
            self.teacher_stats = CCCStats()
            self.human_stats = CCCStats()
            self.human_targets = []
            self.test_rows = []

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, anneals, checkpoints by teacher CCC; reports at test.

        Validation appends to ``history.jsonl`` and keeps the checkpoint of
        best CCC against the teacher; test writes the predictions CSV, the
        plots and ``results.json`` to ``output_folder``.

        Arguments
        ---------
        stage : speechbrain.Stage
            The stage that ended.
        stage_loss : float
            Its average loss.
        epoch : int, optional
            The current epoch.
        """
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {"loss": stage_loss, **self.teacher_stats.summarize()}
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            annealing = getattr(self.hparams, "lr_annealing", None)
            if annealing is not None:
                # NewBob-style schedulers treat lower as better.
                lr, new_lr = annealing(1.0 - stats["ccc"])
                sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            if if_main_process():
                append_history(
                    os.path.join(self.hparams.output_folder, "history.jsonl"),
                    {
                        "epoch": epoch,
                        "lr": lr,
                        "train_loss": self.train_loss,
                        **{f"valid_{k}": v for k, v in stats.items()},
                    },
                )
            self.checkpointer.save_and_keep_only(
                meta=stats, max_keys=["ccc"], num_to_keep=1
            )
        elif stage == sb.Stage.TEST:
            vs_human = (
                self.human_stats.summarize() if self.human_targets else {}
            )
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats={
                    **{f"teacher_{k}": v for k, v in stats.items()},
                    **{f"human_{k}": v for k, v in vs_human.items()},
                },
            )
            self.test_results = {"vs_teacher": stats, "vs_human": vs_human}
            if if_main_process():
                self._write_test_outputs(stats, vs_human)

    def _write_test_outputs(self, vs_teacher, vs_human):
        """Writes the test predictions CSV, plots and ``results.json``."""
        out = self.hparams.output_folder
        ids = [i for batch_ids, _ in self.test_rows for i in batch_ids]
        predictions = torch.cat([p for _, p in self.test_rows])
        teacher = torch.cat(self.teacher_stats.targets).float()
        human = torch.cat(self.human_targets) if self.human_targets else None
        write_challenge_csv(
            os.path.join(out, "test_predictions.csv"), ids, predictions
        )
        write_test_report(
            out,
            ids=ids,
            predictions=predictions,
            teacher=teacher,
            human=human,
            history_path=os.path.join(out, "history.jsonl"),
        )
        update_results(
            os.path.join(out, "results.json"),
            {
                "dimensions": list(DIMENSIONS),
                "test_utterances": len(ids),
                "ccc_vs_teacher": vs_teacher,
                "ccc_vs_human": vs_human,
            },
        )


def mixup(wavs, lengths, targets, alpha):
    """Mixes each waveform with another of the batch (Beta(alpha) weight).

    Targets, when given, are mixed with the same weights; with
    ``targets=None`` (teacher on the fly) the teacher relabels the mixture.
    The mixture is as long as the longer of its two sources.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms [batch, time].
    lengths : torch.Tensor
        Relative lengths [batch] in (0, 1].
    targets : torch.Tensor or None
        Targets [batch, D], mixed alike; ``None`` to leave them to the
        teacher.
    alpha : float
        Parameter of the symmetric Beta distribution of the weights.

    Returns
    -------
    mixed : torch.Tensor
        Mixed waveforms [batch, time].
    new_lengths : torch.Tensor
        Relative lengths of the mixtures [batch].
    targets : torch.Tensor or None
        Mixed targets [batch, D], or ``None``.

    Example
    -------
    >>> wavs, lengths = torch.randn(4, 100), torch.tensor([1.0, 0.5, 0.8, 1])
    >>> mixed, new_lengths, _ = mixup(wavs, lengths, torch.rand(4, 3), 0.4)
    >>> mixed.shape, bool((new_lengths >= lengths).all())
    (torch.Size([4, 100]), True)
    """
    weights = (
        torch.distributions.Beta(alpha, alpha)
        .sample((wavs.shape[0],))
        .to(wavs.device)
    )
    # The larger weight stays on the original item, so it dominates.
    weights = torch.maximum(weights, 1.0 - weights)
    partner = torch.randperm(wavs.shape[0], device=wavs.device)
    mixed = weights[:, None] * wavs + (1 - weights[:, None]) * wavs[partner]
    new_lengths = torch.maximum(lengths, lengths[partner])
    if targets is not None:
        targets = (
            weights[:, None] * targets
            + (1 - weights[:, None]) * targets[partner]
        )
    return mixed, new_lengths, targets
