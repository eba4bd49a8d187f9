#!/usr/bin/env python3
"""Recipe: distil a small student from a teacher on MSP-Podcast audio.

The student (any of the six, by name) learns only the teacher's outputs:
either from pseudo-label caches written once by the labeller (``targets:
cache``, fast) or from the teacher on the fly (``targets: on_the_fly``),
where the teacher labels the very waveform the student sees after
augmentation and mixup. Extra unlabeled audio (manifests or folders) joins
the training set through the labeller. The best checkpoint (validation CCC
against the teacher) is tested against human labels and the teacher, then
exported to ONNX (float and int8) by the export hook.

To run:
    python train.py hparams/distill.yaml --data_folder /path/to/MSP-Podcast \\
        --teacher_hparams dawn --teacher_source /path/to/teacher

Multi-process CPU (or multi-GPU with nccl):
    torchrun --standalone --nproc_per_node=2 train.py hparams/distill.yaml \\
        --data_folder ... --distributed_backend gloo --device cpu

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import json
import logging
import os
import sys
from pathlib import Path

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from msp_podcast_prepare import msp_podcast_id, podcasts_in, prepare_msp_podcast
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.distributed import if_main_process, run_on_main
from timm.utils import ModelEmaV3

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.dataio.audio import audio_info, find_audio_files
from speechbrain_wav2small.dataio.pipelines import (
    audio_pipeline,
    label_pipeline,
    teacher_lookup_pipeline,
)
from speechbrain_wav2small.export import ExportError, export_onnx
from speechbrain_wav2small.labelling import (
    PseudoLabeller,
    merge_label_caches,
    read_label_cache,
)
from speechbrain_wav2small.labelling.external import (
    TeacherLabelsError,
    read_teacher_labels,
    write_external_caches,
)
from speechbrain_wav2small.objectives import CCCStats
from speechbrain_wav2small.teachers import load_teacher, teacher_hparams_file
from speechbrain_wav2small.training.augment import augment_and_mix
from speechbrain_wav2small.training.reporting import (
    append_history,
    update_results,
    write_test_outputs,
)
from speechbrain_wav2small.training.teacher_guard import (
    WeakTeacherError,
    assess_teacher,
    concordance,
    enforce_verdict,
)
from speechbrain_wav2small.utils.complexity import count_parameters
from speechbrain_wav2small.utils.distributed import CPUDistributedMixin, unwrap
from speechbrain_wav2small.utils.durable import atomic_write, atomic_write_csv
from speechbrain_wav2small.utils.model_files import EXPORT_REPORT_FILE

logger = logging.getLogger(__name__)


class DistillationBrain(CPUDistributedMixin, sb.Brain):
    """Trains ``modules.student`` on teacher targets with the CCC loss.

    Validation reports the corpus-level CCC against the teacher (what
    distillation optimises) and keeps the best checkpoint by it; the test
    stage also scores against human labels when the test set has them.

    Arguments
    ---------
    *args, **kwargs
        As for :class:`speechbrain.Brain`.
    teacher : torch.nn.Module, optional
        Frozen teacher for on-the-fly targets. Kept out of ``modules`` on
        purpose: Brain puts every module back into train mode each epoch,
        which would switch the teacher's dropout on.

    With ``ema_decay`` set, validation, test and export use an exponential
    moving average of the student's weights and BatchNorm statistics
    (timm's ``ModelEmaV3``, its decay warmed up from 0 to ``ema_decay``).
    The checkpoint's ``model`` then holds the averaged weights (what the
    export, the packager and inference read) and ``training_model`` the
    weights training resumes from.
    """

    def __init__(self, *args, teacher=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher
        if teacher is not None:
            self.teacher = teacher.to(self.device).eval()
            self.teacher.requires_grad_(False)
        self.student_ema = None
        if getattr(self.hparams, "ema_decay", None):
            # Kept out of ``modules``: Brain would give its parameters to
            # the optimiser and wrap it for DDP, where it only ever changes
            # by averaging.
            self.student_ema = ModelEmaV3(
                self.modules.student,
                decay=self.hparams.ema_decay,
                use_warmup=True,
            )
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(
                    "model", self.student_ema.module
                )
                self.checkpointer.add_recoverable(
                    "training_model", self.modules.student
                )

    def evaluated_student(self):
        """The student that is validated, tested and exported: the moving
        average of its weights with ``ema_decay``, else the student itself.

        Returns
        -------
        torch.nn.Module
            Without any distributed wrapper.
        """
        if self.student_ema is not None:
            return self.student_ema.module
        return unwrap(self.modules.student)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Updates the moving average after each optimiser step.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            The batch just fitted.
        outputs : tuple
            The output of :meth:`compute_forward`.
        loss : torch.Tensor
            Its loss.
        should_step : bool
            Whether the optimiser stepped (false while accumulating).
        """
        if should_step and self.student_ema is not None:
            # Brain's optimizer_step is checkpointed, so the decay's warmup
            # continues where it was after a resume.
            self.student_ema.update(
                unwrap(self.modules.student), step=self.optimizer_step
            )

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
            wavs, lengths, targets = augment_and_mix(
                wavs,
                lengths,
                targets,
                augment=self.hparams.wav_augment,
                mixup_alpha=self.hparams.mixup_alpha,
                mixup_prob=self.hparams.mixup_prob,
            )
        if self.teacher is not None:
            # The teacher labels the very waveform the student sees.
            with torch.no_grad():
                targets = self.teacher(wavs, lengths).float()
        if stage == sb.Stage.TRAIN:
            predictions = self.modules.student(wavs, lengths)
        else:
            predictions = self.evaluated_student()(wavs, lengths)
        return predictions, targets

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
            self.test_rows.append(
                (batch.id, predictions.detach().float().cpu())
            )
            if hasattr(batch, "targets"):
                human = batch.targets.data.float()
                self.human_stats.append(batch.id, predictions, human)
                self.human_targets.append(human.cpu())
        return loss

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
            # NewBob-style schedulers treat lower as better.
            lr, new_lr = self.hparams.lr_annealing(1.0 - stats["ccc"])
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
                write_test_outputs(
                    self.hparams.output_folder,
                    ids=[i for ids, _ in self.test_rows for i in ids],
                    predictions=torch.cat([p for _, p in self.test_rows]),
                    teacher=torch.cat(self.teacher_stats.targets).float(),
                    human=(
                        torch.cat(self.human_targets)
                        if self.human_targets
                        else None
                    ),
                    vs_teacher=stats,
                    vs_human=vs_human,
                )


def label_cache_path(hparams, name):
    """Where the pseudo-labels of a split or an extra source live."""
    return os.path.join(hparams["label_folder"], f"{name}.csv")


def extra_audio_names(hparams):
    """A cache name for each extra audio source (manifest or folder)."""
    return [
        f"extra{index}_{Path(source).stem}"
        for index, source in enumerate(hparams["extra_audio"])
    ]


def pseudo_label(hparams, manifests, splits, device, precision):
    """Labels ``splits`` and the extra audio with the teacher, once.

    The labeller resumes an interrupted run and refuses a cache made by
    another teacher, so a rerun only labels what is missing.

    Arguments
    ---------
    hparams : dict
        The recipe's hyperparameters.
    manifests : dict
        Split name -> prepared manifest CSV.
    splits : list of str
        The splits to label (none when the teacher labels on the fly).
    device : str or torch.device
        Where the teacher runs (the Brain's device).
    precision : str
        ``fp32``, ``bf16`` or ``fp16``: SpeechBrain's evaluation precision,
        since labelling is inference.
    """
    if not splits and not hparams["extra_audio"]:
        return
    teacher = load_teacher(
        teacher_hparams_file(hparams["teacher_hparams"]),
        source=hparams["teacher_source"],
    )
    labeller = PseudoLabeller(
        teacher,
        batch_seconds=hparams["label_batch_seconds"],
        device=device,
        precision=precision,
    )
    for split in splits:
        labeller.label_manifest(
            manifests[split], label_cache_path(hparams, split)
        )
    extra = zip(hparams["extra_audio"], extra_audio_names(hparams), strict=True)
    for source, name in extra:
        out = label_cache_path(hparams, name)
        if os.path.isdir(source):
            labeller.label_folder(source, out)
        else:
            labeller.label_manifest(source, out)


def label_from_csv(hparams, manifests, splits):
    """Label caches of ``splits`` from the CSV ``teacher_labels``.

    The table is validated (columns, finite values, duplicates, range) and
    every training file must be in it; its content fingerprint goes into
    each cache's sidecar, so that a cache made from another CSV (or by a
    teacher model) is refused rather than mixed.
    """
    table = read_teacher_labels(hparams["teacher_labels"])
    counts = write_external_caches(
        table,
        {split: manifests[split] for split in splits},
        {split: label_cache_path(hparams, split) for split in splits},
        required=["Train"],
    )
    logger.info(
        "Teacher labels from %s (%s): %s",
        hparams["teacher_labels"],
        table["fingerprint"],
        counts,
    )


def human_labels(manifest):
    """ID -> human [arousal, dominance, valence] of a prepared manifest
    (rows without a numeric label in every dimension are left out)."""
    labels = {}
    with open(manifest, newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            try:
                labels[row["ID"]] = [float(row[d]) for d in DIMENSIONS]
            except (KeyError, TypeError, ValueError):
                continue
    return labels


def _paired(cache, human):
    """Teacher and human labels of the clips both have, as two lists."""
    ids = [i for i in cache["labels"] if i in human]
    return (
        [cache["labels"][i]["labels"] for i in ids],
        [human[i] for i in ids],
    )


def check_label_caches(hparams, manifests):
    """The weak-teacher verdict on the label caches, before training.

    Spread: the Train labels against the human labels of the same clips
    (or against the typical human spread where there are none); CCC: the
    Development labels against its human labels, when it has them.

    Returns
    -------
    dict
        The record for ``results.json`` (see
        :func:`~speechbrain_wav2small.training.teacher_guard.enforce_verdict`).

    Raises
    ------
    WeakTeacherError
        The labels are below the thresholds and ``accept_weak_teacher`` is
        not set.
    """
    train = read_label_cache(label_cache_path(hparams, "Train"))
    teacher, human = _paired(train, human_labels(manifests["Train"]))
    if len(teacher) < 2:
        teacher = [entry["labels"] for entry in train["labels"].values()]
        human = None
    dev_teacher, dev_human = _paired(
        read_label_cache(label_cache_path(hparams, "Development")),
        human_labels(manifests["Development"]),
    )
    ccc = None
    if len(dev_teacher) >= 2:
        values = concordance(dev_teacher, dev_human)
        ccc = {
            f"ccc_{d}": float(v)
            for d, v in zip(DIMENSIONS, values, strict=True)
        }
    verdict = assess_teacher(
        ccc=ccc,
        teacher_labels=teacher,
        human_labels=human,
        min_ccc=hparams["min_teacher_ccc"],
        min_spread_ratio=hparams["min_teacher_spread_ratio"],
    )
    source = hparams["teacher_labels"] or "the teacher's labels"
    return enforce_verdict(
        verdict,
        f"pseudo-labelling ({source}: Train spread, Development CCC)",
        hparams["accept_weak_teacher"],
    )


def write_noise_manifest(noise_folder, out_csv):
    """The noise recordings as the CSV that SpeechBrain's ``AddNoise``
    reads: its legacy extended format, where every file column comes with
    ``<name>_format`` and ``<name>_opts`` (ID, duration, wav, wav_format,
    wav_opts), as SpeechBrain's own noise preparation writes it."""
    rows = []
    for index, path in enumerate(find_audio_files(noise_folder)):
        duration = audio_info(path)["duration"]
        rows.append(
            {
                "ID": f"noise{index}",
                "duration": duration,
                "wav": path,
                "wav_format": Path(path).suffix.lstrip(".").lower(),
                "wav_opts": "",
            }
        )
    if not rows:
        raise FileNotFoundError(
            f"no audio files in noise folder {noise_folder}"
        )
    atomic_write_csv(
        out_csv, ["ID", "duration", "wav", "wav_format", "wav_opts"], rows
    )


def training_csv(hparams):
    """Where the merged training set (split + extra audio) is written."""
    return os.path.join(hparams["label_folder"], "train_set.csv")


def write_training_set(hparams, manifests):
    """Merges the training split and the extra audio into one CSV.

    Extra audio from podcasts of the test splits is left out when
    ``exclude_test_podcasts`` is set.
    """
    extra_caches = [
        label_cache_path(hparams, name) for name in extra_audio_names(hparams)
    ]
    excluded = set()
    if hparams["exclude_test_podcasts"]:
        excluded = podcasts_in(
            [manifests.get(s) for s in ("Test1", "Test2", "Test3")]
        )
    # On the fly, the training split is the prepared manifest (human
    # labels, not a label cache); its rows come first either way.
    from_cache = hparams["targets"] == "cache"
    train_cache = [label_cache_path(hparams, "Train")] if from_cache else []
    counts = merge_label_caches(
        train_cache + extra_caches,
        training_csv(hparams),
        exclude=lambda utterance_id: msp_podcast_id(utterance_id) in excluded,
        manifests=[] if from_cache else [manifests["Train"]],
    )
    logger.info(
        "Training set: %(kept)d utterances (%(excluded)d extra ones from test "
        "podcasts left out, %(duplicates)d duplicates)",
        counts,
    )


def dataio_prepare(hparams, manifests):
    """Train (teacher targets), valid (teacher) and test (human + teacher)."""
    from_cache = hparams["targets"] == "cache"
    test_split = hparams["test_split"]
    train_csv = training_csv(hparams)
    train = sb.dataio.dataset.DynamicItemDataset.from_csv(train_csv)
    train.add_dynamic_item(
        audio_pipeline(hparams["max_train_seconds"], random_crop=True)
    )
    valid = sb.dataio.dataset.DynamicItemDataset.from_csv(
        manifests["Development"]
    )
    test = sb.dataio.dataset.DynamicItemDataset.from_csv(manifests[test_split])
    for dataset in (valid, test):
        dataset.add_dynamic_item(audio_pipeline())
    test.add_dynamic_item(label_pipeline("targets"))

    keys = ["id", "sig"]
    if from_cache:
        keys.append("teacher_targets")
        train.add_dynamic_item(label_pipeline("teacher_targets"))
        labelled = []
        for dataset, split in ((valid, "Development"), (test, test_split)):
            cache = read_label_cache(label_cache_path(hparams, split))
            dataset.add_dynamic_item(teacher_lookup_pipeline(cache))
            labelled.append(with_teacher_labels(dataset, cache, split))
        valid, test = labelled
    # Evaluation batches of similar lengths pad (and compute) less; the
    # students are padding-aware and the scores corpus-level, so the order
    # changes nothing else.
    valid = valid.filtered_sorted(sort_key="duration")
    test = test.filtered_sorted(sort_key="duration")
    train.set_output_keys(keys)
    valid.set_output_keys(keys)
    test.set_output_keys(keys + ["targets"])
    return train, valid, test


def train_loader_options(brain, train_set, hparams):
    """The training loader's options: length-bucketed batches when
    ``dynamic_batching`` is set, else ``train_dataloader_opts`` as they are.

    Random batches pad every clip to the longest one: with 8 s crops of
    MSP-Podcast turns (2.75-11 s) about a quarter of the audio a step
    computes is padding. SpeechBrain's ``DynamicBatchSampler`` draws each
    batch from one of ``num_buckets`` buckets of similar (cropped) lengths,
    in random order, with at most ``batch_size`` clips and ``batch_size *
    max_train_seconds`` seconds, so every step does a full batch's work or
    less.

    Arguments
    ---------
    brain : DistillationBrain
        Its ``train_sampler`` becomes the batch sampler, so that SpeechBrain
        reshuffles it every epoch (it does so itself under DDP, after
        wrapping it).
    train_set : speechbrain.dataio.dataset.DynamicItemDataset
        The training set (with a ``duration`` column).
    hparams : dict
        The recipe's hyperparameters.

    Returns
    -------
    dict
        Keyword arguments for the training loader.
    """
    options = dict(hparams["train_dataloader_opts"])
    if not hparams["dynamic_batching"]:
        return options
    # Without a crop (max_train_seconds: null), clips train whole.
    crop = hparams["max_train_seconds"] or max(
        float(row["duration"]) for row in train_set.data.values()
    )
    buckets = hparams["num_buckets"]
    # Boundaries evenly over (0, crop]: full-length crops fill the last
    # bucket, in batches of batch_size as random batches are. SpeechBrain's
    # default boundaries (log-normal, up to the batch's total length) put
    # every crop of 8 s or less into its first bucket: no bucketing, and
    # batches of 11 clips instead of 16.
    boundaries = [crop * (i + 1) / buckets for i in range(buckets - 1)]
    sampler = DynamicBatchSampler(
        train_set,
        max_batch_length=hparams["batch_size"] * crop,
        bucket_boundaries=[*boundaries, crop],
        length_func=lambda row: min(float(row["duration"]), crop),
        shuffle=True,
        batch_ordering="random",
        max_batch_ex=hparams["batch_size"],
        seed=hparams["seed"],
    )
    brain.train_sampler = sampler
    for key in ("batch_size", "shuffle", "drop_last"):
        options.pop(key, None)
    return {**options, "batch_sampler": sampler}


def with_teacher_labels(dataset, cache, split):
    """Leaves out utterances the labeller could not use (listed with the
    reason in the cache's errors file), rather than failing on them."""
    kept = dataset.filtered_sorted(
        key_test={"id": lambda utterance: utterance in cache["labels"]}
    )
    if len(kept) < len(dataset):
        logger.warning(
            "%s: %d utterance(s) have no teacher label (see the label "
            "cache's errors file) and are left out",
            split,
            len(dataset) - len(kept),
        )
    return kept


def export_best_student(brain, hparams, manifests, fingerprint):
    """Exports the best checkpoint to ONNX (float and int8), once.

    The export goes to a folder named after the checkpoint, so a rerun
    finds it there and a newer checkpoint never overwrites an older export.
    The int8-vs-float gate runs on Development clips, topped up with
    training clips when the Development set is smaller than
    ``export_held_out_items`` (the gate compares the two models, it uses no
    label).
    """
    checkpoint = brain.checkpointer.find_checkpoint(max_key="ccc")
    out_dir = os.path.join(hparams["export_folder"], checkpoint.path.name)
    report_path = os.path.join(out_dir, EXPORT_REPORT_FILE)
    if os.path.isfile(report_path):
        logger.info("Export of %s already in %s", checkpoint.path, out_dir)
        with open(report_path, encoding="utf-8") as stream:
            return json.load(stream)
    held_out = []
    for split in ("Development", "Train"):
        with open(manifests[split], newline="", encoding="utf-8") as f:
            held_out.extend(row["wav"] for row in csv.DictReader(f))
    report = export_onnx(
        brain.evaluated_student(),
        out_dir,
        hparams["student"],
        teacher_fingerprint=fingerprint,
        held_out_wavs=held_out[: hparams["export_held_out_items"]],
    )
    report["checkpoint"] = str(checkpoint.path)
    atomic_write(report_path, json.dumps(report, indent=2))
    for name, size in report["bytes"].items():
        logger.info("Exported %s: %d bytes", name, size)
    return report


def teacher_fingerprint_of_run(hparams, teacher):
    """The fingerprint of the teacher whose labels trained the student."""
    if teacher is not None:
        return teacher.fingerprint
    cache = read_label_cache(label_cache_path(hparams, "Train"))
    return cache["teacher"].get("fingerprint")


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
    if hparams["targets"] not in ("cache", "on_the_fly"):
        raise ValueError(
            f"targets must be 'cache' or 'on_the_fly', not {hparams['targets']}"
        )
    if hparams["teacher_labels"] and (
        hparams["targets"] != "cache" or hparams["extra_audio"]
    ):
        raise ValueError(
            "teacher_labels (a CSV of teacher predictions) needs targets: "
            "cache and no extra_audio: no teacher model is there to label "
            "augmented batches or other audio (add the extra files to the "
            "CSV and to a manifest instead)"
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
        for split in ("Train", "Development", "Test1", "Test2", "Test3")
        if os.path.isfile(os.path.join(hparams["prep_folder"], f"{split}.csv"))
    }

    teacher = None
    if hparams["targets"] == "on_the_fly":
        teacher = load_teacher(
            teacher_hparams_file(hparams["teacher_hparams"]),
            source=hparams["teacher_source"],
        )
    # The Brain comes first: it settles the device and precisions that the
    # labeller uses too.
    brain = DistillationBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        teacher=teacher,
    )
    # On the fly, the teacher labels every batch itself; extra audio still
    # goes through the labeller, which also vets the files.
    splits = []
    if hparams["targets"] == "cache":
        splits = ["Train", "Development", hparams["test_split"]]
    if hparams["teacher_labels"]:
        # Every rank validates the CSV, so a bad one stops them all.
        try:
            read_teacher_labels(hparams["teacher_labels"])
        except TeacherLabelsError as error:
            sys.exit(f"teacher_labels refused: {error}")
        run_on_main(label_from_csv, args=[hparams, manifests, splits])
    else:
        run_on_main(
            pseudo_label,
            args=[
                hparams,
                manifests,
                splits,
                brain.device,
                brain.eval_precision,
            ],
        )
    # The guard reads the caches (on every rank, so all stop together);
    # on the fly there are no caches to judge before training.
    guard = None
    if hparams["targets"] == "cache":
        try:
            guard = check_label_caches(hparams, manifests)
        except WeakTeacherError as error:
            results_file = os.path.join(
                hparams["output_folder"], "results.json"
            )
            if if_main_process():
                update_results(
                    results_file,
                    {"teacher_guard": error.record, "error": str(error)},
                )
            sys.exit(f"{error}\n(recorded in {results_file})")
        if guard["warning"] and if_main_process():
            logger.warning(guard["warning"])
    if hparams["noise_folder"]:
        run_on_main(
            write_noise_manifest,
            args=[hparams["noise_folder"], hparams["noise_csv"]],
        )
    run_on_main(write_training_set, args=[hparams, manifests])
    train_set, valid_set, test_set = dataio_prepare(hparams, manifests)

    brain.fit(
        brain.hparams.epoch_counter,
        train_set,
        valid_set,
        train_loader_kwargs=train_loader_options(brain, train_set, hparams),
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        test_set,
        max_key="ccc",
        test_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        fingerprint = teacher_fingerprint_of_run(hparams, teacher)
        results = {
            "student": hparams["student"],
            "parameters": count_parameters(unwrap(brain.modules.student)),
            "teacher_fingerprint": fingerprint,
            "precision": brain.precision,
            "checkpoint": str(
                brain.checkpointer.find_checkpoint(max_key="ccc").path
            ),
            "teacher_labels": hparams["teacher_labels"],
        }
        if guard is not None:
            results["teacher_guard"] = guard
            if guard["warning"]:
                results["warning"] = guard["warning"]
        try:
            if hparams["export_best"]:
                export = export_best_student(
                    brain, hparams, manifests, fingerprint
                )
                results["onnx_bytes"] = export["bytes"]
                results["int8_vs_float_ccc"] = export["int8_ccc"]
                if export.get("no_int8_reason"):
                    # The float model is exported; only its int8 copy failed.
                    logger.warning(export["no_int8_reason"])
                    results["no_int8_reason"] = export["no_int8_reason"]
        except ExportError as error:
            # The trained checkpoint stays; only the ONNX files are refused.
            logger.error("ONNX export refused: %s", error)
            results["export_error"] = str(error)
        update_results(
            os.path.join(hparams["output_folder"], "results.json"), results
        )
