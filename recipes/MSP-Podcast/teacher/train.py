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
from pathlib import Path

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_wav2small.dataio.pipelines import (
    audio_pipeline,
    label_pipeline,
)
from speechbrain_wav2small.training.teacher import TeacherBrain, export_teacher
from speechbrain_wav2small.utils.distributed import unwrap
from speechbrain_wav2small.utils.durable import atomic_write

sys.path.append(str(Path(__file__).resolve().parents[1]))
from msp_podcast_prepare import prepare_msp_podcast  # noqa: E402


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
        atomic_write(hparams["results_file"], json.dumps(results, indent=2))
