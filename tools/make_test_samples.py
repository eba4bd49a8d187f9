#!/usr/bin/env python3
"""Writes ``tests/samples/``: the small data the recipe tests run on.

SpeechBrain's recipe-test runner (``tests/utils/recipe_tests.py``) runs each
row of ``tests/recipes/MSP-Podcast.csv`` from the repository root on data
committed to the repository, as SpeechBrain does with its own
``tests/samples``. MSP-Podcast is licensed, so the corpus is the demo
generator's stand-in in MSP-Podcast's exact layout, kept small (about thirty
clips). The folder holds:

* ``MSP-Podcast/``: ``Audios/*.wav`` and ``Labels/labels_consensus.csv``;
* ``teacher_dawn_tiny/``: a randomly initialised Dawn teacher with a tiny
  backbone, saved in the hub layout (``config.json``, ``model.safetensors``,
  ``preprocessor_config.json``) that the labeller and the teacher recipe
  load;
* ``noise/``: one real noise recording for the additive-noise augmentation;
* ``extra_audio/``: unlabeled clips for the distillation's extra audio: one
  from a Test1 podcast (must be left out of training), one new recording
  (must join it) and one holding NaN samples (must be reported, not used).

Run it again only when the layout changes; it refuses to write over an
existing folder.

Usage::

    python tools/make_test_samples.py --out tests/samples

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.teachers.configs import (
    backbone_config,
    build_teacher,
)
from speechbrain_wav2small.teachers.hub_layout import save_teacher

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "MSP-Podcast"))
from demo_corpus import generate_corpus  # noqa: E402

#: Real speech and noise recordings the samples are made of.
SOURCE_AUDIO = REPO / "tests" / "data"
#: A fraction of the demo corpus: 2 clips per podcast, about 30 in all.
CORPUS_SCALE = 0.05
#: Sizes of a wav2vec2 backbone small enough to commit (about 40 kB).
TINY_BACKBONE = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": [32, 32],
    "conv_kernel": [400, 3],
    "conv_stride": [160, 2],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def write_samples(out):
    """Writes every sample folder under ``out``.

    Arguments
    ---------
    out : pathlib.Path
        The samples folder (``tests/samples``); its sub-folders must not
        exist yet.
    """
    corpus = out / "MSP-Podcast"
    generate_corpus(corpus, SOURCE_AUDIO, SOURCE_AUDIO, CORPUS_SCALE, seed=7)
    # The generator's ground-truth factors are not part of MSP's layout.
    (corpus / "demo_factors.csv").unlink()

    teacher = build_teacher(
        "dawn", config=backbone_config("dawn", **TINY_BACKBONE), seed=0
    )
    save_teacher(teacher, out / "teacher_dawn_tiny")

    noise = out / "noise"
    noise.mkdir()
    shutil.copyfile(SOURCE_AUDIO / "noise_noise2.wav", noise / "noise2.wav")

    extra = out / "extra_audio"
    extra.mkdir()
    test1_clip = sorted((corpus / "Audios").glob("MSP-PODCAST_0011_*"))[0]
    shutil.copyfile(test1_clip, extra / test1_clip.name)
    shutil.copyfile(
        SOURCE_AUDIO / "ASR_spk2_snt2.wav", extra / "podcast_clip.wav"
    )
    soundfile.write(
        extra / "broken_clip.wav",
        np.full(SAMPLE_RATE // 10, np.nan, dtype="float32"),
        SAMPLE_RATE,
        subtype="FLOAT",
    )


def main(argv=None):
    """Command line entry point.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "samples")
    args = parser.parse_args(argv)
    taken = [
        name
        for name in ("MSP-Podcast", "teacher_dawn_tiny", "noise", "extra_audio")
        if (args.out / name).exists()
    ]
    if taken:
        parser.error(f"{args.out} already holds {', '.join(taken)}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_samples(args.out)


if __name__ == "__main__":
    main()
