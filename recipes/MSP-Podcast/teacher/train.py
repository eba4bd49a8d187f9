#!/usr/bin/env python3
"""Recipe: fine-tune an emotion teacher on MSP-Podcast's human labels.

An SSL backbone (wav2vec2 in the Dawn layout by default) and a regression
head learn arousal, dominance and valence with the CCC loss; the checkpoint
with the best development mean CCC is tested on Test1 and saved in the hub
layout that ``wav2small label`` and the distillation recipe load.

To run:
    python train.py hparams/train_dawn.yaml --data_folder /path/to/MSP-Podcast

Multi-GPU (or multi-process CPU):
    torchrun --nproc_per_node=2 train.py hparams/train_dawn.yaml \\
        --data_folder ... --distributed_backend gloo --device cpu

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from msp_podcast_prepare import prepare_msp_podcast
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_wav2small.dataio.pipelines import (
    audio_pipeline,
    label_pipeline,
)
from speechbrain_wav2small.objectives import CCCStats
from speechbrain_wav2small.training.augment import augment_and_mix
from speechbrain_wav2small.training.teacher import (
    backbone_param_groups,
    export_teacher,
)
from speechbrain_wav2small.training.teacher_guard import (
    WeakTeacherError,
    assess_teacher,
    enforce_verdict,
)
from speechbrain_wav2small.utils.distributed import CPUDistributedMixin, unwrap
from speechbrain_wav2small.utils.durable import atomic_write


class TeacherBrain(CPUDistributedMixin, sb.Brain):
    """Fine-tunes ``modules.teacher`` on human labels with the CCC loss."""

    def init_optimizers(self):
        """One optimiser, a slower learning rate for the backbone."""
        self.optimizer = self.hparams.opt_class(
            backbone_param_groups(
                self.modules.teacher, self.hparams.lr_backbone
            )
        )
        self.optimizers_dict = {"optimizer": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)

    def compute_forward(self, batch, stage):
        """Predicts A/D/V for the (augmented, when training) batch.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            With ``sig`` (waveforms and relative lengths) and ``targets``
            (human labels [batch, 3]).
        stage : speechbrain.Stage
            Augmentation applies to ``TRAIN`` only.

        Returns
        -------
        tuple
            (predictions [B, 3], targets [B, 3]); the human labels are
            replicated alongside any copies the augmentation adds.
        """
        batch = batch.to(self.device)
        wavs, lengths = batch.sig
        targets = batch.targets.data.float()
        if stage == sb.Stage.TRAIN:
            # No mixup: a mixture of two clips has no human label.
            wavs, lengths, targets = augment_and_mix(
                wavs,
                lengths,
                targets,
                augment=getattr(self.hparams, "wav_augment", None),
            )
        return self.modules.teacher(wavs, lengths), targets

    def compute_objectives(self, predictions, batch, stage):
        """CCC loss against the human labels.

        Arguments
        ---------
        predictions : tuple
            The output of :meth:`compute_forward`: (predictions, targets).
        batch : speechbrain.dataio.batch.PaddedBatch
            The batch (its ids are kept with the evaluation statistics).
        stage : speechbrain.Stage
            Evaluation stages also accumulate CCC statistics.

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        predictions, targets = predictions
        if stage != sb.Stage.TRAIN:
            self.ccc_stats.append(batch.id, predictions, targets)
        return self.hparams.compute_cost(predictions, targets)

    def on_stage_start(self, stage, epoch=None):
        """Fresh CCC statistics for evaluation stages.

        Arguments
        ---------
        stage : speechbrain.Stage
            The stage about to run.
        epoch : int, optional
            The current epoch.
        """
        if stage != sb.Stage.TRAIN:
            self.ccc_stats = CCCStats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs; keeps the best checkpoint by development mean CCC.

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
        stats = {"loss": stage_loss, **self.ccc_stats.summarize()}
        if stage == sb.Stage.VALID:
            lrs = [group["lr"] for group in self.optimizer.param_groups]
            # NewBob treats lower as better; every group is scaled alike to
            # keep the backbone/head ratio.
            old_lr, new_lr = self.hparams.lr_annealing(1.0 - stats["ccc"])
            for group in self.optimizer.param_groups:
                group["lr"] *= new_lr / old_lr
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lrs[-1]},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta=stats, max_keys=["ccc"], num_to_keep=1
            )
        elif stage == sb.Stage.TEST:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            self.test_stats = stats
            self.test_ccc_stats = self.ccc_stats


def guard_teacher(brain, hparams):
    """The weak-teacher verdict of the fine-tuned teacher.

    CCC: the best checkpoint's Development figures; spread: its Test1
    predictions against the human labels of the same clips (see
    :mod:`speechbrain_wav2small.training.teacher_guard`).
    """
    checkpoint = brain.checkpointer.find_checkpoint(max_key="ccc")
    stats = brain.test_ccc_stats
    return assess_teacher(
        ccc=checkpoint.meta if checkpoint is not None else None,
        teacher_labels=torch.cat(stats.predictions).numpy(),
        human_labels=torch.cat(stats.targets).numpy(),
        min_ccc=hparams["min_teacher_ccc"],
        min_spread_ratio=hparams["min_teacher_spread_ratio"],
    )


def dataio_prepare(hparams, manifests):
    """Train / Development / Test1 datasets with audio and human labels."""
    datasets = {}
    for split in ("Train", "Development", "Test1"):
        dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(
            manifests[split]
        )
        training = split == "Train"
        dataset.add_dynamic_item(
            audio_pipeline(hparams["max_train_seconds"], random_crop=True)
            if training
            else audio_pipeline()
        )
        dataset.add_dynamic_item(label_pipeline("targets"))
        dataset.set_output_keys(["id", "sig", "targets"])
        if training and hparams["sorting"] != "random":
            dataset = dataset.filtered_sorted(
                sort_key="duration", reverse=hparams["sorting"] == "descending"
            )
        elif not training:
            # Evaluation batches of similar lengths pad (and compute) less;
            # its scores are corpus-level, so the order changes nothing.
            dataset = dataset.filtered_sorted(sort_key="duration")
        datasets[split] = dataset
    return datasets


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    run_on_main(
        prepare_msp_podcast,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["prep_folder"],
        },
    )
    manifests = {
        split: os.path.join(hparams["prep_folder"], f"{split}.csv")
        for split in ("Train", "Development", "Test1")
    }
    datasets = dataio_prepare(hparams, manifests)

    brain = TeacherBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["Train"],
        datasets["Development"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["Test1"],
        max_key="ccc",
        test_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        fingerprint = export_teacher(
            unwrap(brain.modules.teacher), hparams["teacher_folder"]
        )
        results = {
            "teacher_folder": hparams["teacher_folder"],
            "teacher_fingerprint": fingerprint,
            "ccc_vs_human_test1": brain.test_stats,
        }
        where = "teacher fine-tuning (Development CCC, Test1 spread)"
        verdict = guard_teacher(brain, hparams)
        try:
            guard = enforce_verdict(
                verdict, where, hparams["accept_weak_teacher"]
            )
        except WeakTeacherError as error:
            # The verdict goes into results.json before the run stops, so
            # that the chain (and a user) can read why.
            results.update(teacher_guard=error.record, error=str(error))
            atomic_write(hparams["results_file"], json.dumps(results, indent=2))
            sys.exit(f"{error}\n(verdict in {hparams['results_file']})")
        results["teacher_guard"] = guard
        if guard["warning"]:
            results["warning"] = guard["warning"]
            print(f"WARNING: {guard['warning']}", file=sys.stderr)
        atomic_write(hparams["results_file"], json.dumps(results, indent=2))
