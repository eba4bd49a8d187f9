"""Ready-to-use emotion-dimension predictor (SpeechBrain ``Pretrained``).

Loads a packaged student (a folder or a model-hub repository written by
``wav2small package`` or ``wav2small import-audeering``) and predicts
arousal, dominance and valence (0..1 nominal) from waveforms or files.

Authors
 * speechbrain-wav2small contributors 2026
"""

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import (
    FetchConfig,
    FetchFrom,
    FetchSource,
    LocalStrategy,
    fetch,
    guess_source,
)
from speechbrain.utils.parameter_transfer import Pretrainer

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.inference.file_prediction import (
    FilePredictor,
    check_batch,
    pad_arrays,
)
from speechbrain_wav2small.students import has_embeddings
from speechbrain_wav2small.utils.checksums import (
    ChecksumError,
    check_files,
    read_checksums,
)
from speechbrain_wav2small.utils.hub import (
    announce_fetch,
    check_source,
    find_hub_failure,
    hub_error,
    split_revision,
)
from speechbrain_wav2small.utils.model_files import (
    CHECKSUMS_FILE,
    HPARAMS_FILE,
)
from speechbrain_wav2small.utils.state_dict import few, load_module_strictly

logger = logging.getLogger(__name__)

#: What every loading error and warning adds: why a package is checked.
_CODE_WARNING = (
    f"{HPARAMS_FILE} is code (loading it builds the objects it names), so "
    "load only packages you trust"
)


class EmotionDimensions(FilePredictor, Pretrained):
    """Predicts arousal, dominance and valence from speech.

    The hyperparameters file must define ``modules`` with a ``model``
    (``forward(wavs, wav_lens) -> [batch, 3]``), ``sample_rate``,
    ``dimensions`` and a ``pretrainer``. File methods read any format,
    sample rate and channel count through
    :func:`speechbrain_wav2small.dataio.audio.read_audio`; long files are read
    window by window (see
    :mod:`speechbrain_wav2small.inference.file_prediction`).

    Arguments
    ---------
    See ``speechbrain.inference.interfaces.Pretrained``.

    Example
    -------
    Loading needs a packaged folder or a hub repository::

        model = EmotionDimensions.from_hparams(
            source="exports/wav2small-package",
            savedir="pretrained_models/wav2small",
        )
        model.predict_file("speech.wav")
        # {'arousal': 0.61, 'dominance': 0.55, 'valence': 0.42}
        model.predict_file("podcast.flac", window=3.0, hop=1.0)["windows"]
        model.embed_file("speech.wav")["embedding"]  # numpy [338]
    """

    HPARAMS_NEEDED = ["sample_rate", "dimensions"]
    MODULES_NEEDED = ["model"]

    def __init__(self, *args, **kwargs):
        """Checks the model's outputs (see ``Pretrained``)."""
        super().__init__(*args, **kwargs)
        if "model" not in self.mods:
            raise ValueError("hyperparams 'modules' must contain a 'model'")
        if tuple(self.hparams.dimensions) != DIMENSIONS:
            raise ValueError(
                f"model outputs {list(self.hparams.dimensions)}, expected "
                f"{list(DIMENSIONS)}"
            )
        self.sample_rate = int(self.hparams.sample_rate)

    @classmethod
    def from_hparams(
        cls, source, hparams_file=HPARAMS_FILE, revision=None, **kwargs
    ):
        """Loads from a local folder or a model-hub id (``owner/name``).

        Runs on the CPU unless ``run_opts={"device": ...}`` says otherwise
        (a 10K-parameter model gains nothing from a GPU). Sources follow
        the rule of :mod:`speechbrain_wav2small.utils.hub`: a local-looking
        path that does not exist is an error here, instead of being sent to
        the model hub as a repository id, and so is ``owner/name`` when a
        local folder ``owner/`` exists (write ``hf://owner/name`` for the
        hub). A hub id is fetched by SpeechBrain through
        ``huggingface_hub`` into its cache (read offline with
        ``HF_HUB_OFFLINE=1``), after one INFO line naming it; a failure is
        one ``FileNotFoundError`` naming the id, the revision and why.

        Loading is SpeechBrain's (``Pretrained.from_hparams``: fetch,
        build the YAML's objects, collect the ``pretrainer``'s files),
        with two checks of its own, since ``hyperparams.yaml`` is code:

        * the files read (``hyperparams.yaml`` before it runs, the
          checkpoints before they are read, and for a local folder every
          file its manifest lists) are held against the package's
          ``checksums.sha256``; a changed file is refused, naming it. A
          package without a manifest (older, or one's own) loads with a
          one-line warning;
        * every parameter and buffer of the model comes from its
          checkpoint, read without running code (``weights_only=True``)
          and with matching names and shapes; SpeechBrain's own transfer
          would load a checkpoint that does not fit and leave random
          weights, with warnings only.

        Arguments
        ---------
        source : str or os.PathLike
            Folder, or hub repository id (``owner/name``, or
            ``owner/name@revision`` to pin a branch, tag or commit;
            ``hf://`` before it means the hub whatever exists on disk).
        hparams_file : str
            Name of the hyperparameters file in ``source``.
        revision : str, optional
            Branch, tag or commit hash of a hub id (SpeechBrain's
            ``FetchConfig(revision=...)``); default: its main branch.
        **kwargs : dict
            As for ``Pretrained.from_hparams`` (``savedir``, ``run_opts``,
            ``overrides``, ``local_strategy``, ``fetch_config``...).

        Returns
        -------
        EmotionDimensions

        Raises
        ------
        ChecksumError
            A file read does not match the package's manifest (a
            ``ValueError``).
        ValueError
            A checkpoint that does not fit the model, pickles anything but
            tensors, or a pretrainer that leaves weights of the model
            unloaded.
        """
        kwargs.setdefault("run_opts", {"device": "cpu"})
        # SpeechBrain ``FetchSource`` objects say where to fetch from
        # themselves; they go through as they are.
        if not isinstance(source, (str, os.PathLike)):
            return cls._load_package(source, hparams_file, **kwargs)
        if not check_source(source, "model folder"):
            if revision:
                raise ValueError(
                    f"revision {revision!r} was given for the local folder "
                    f"{os.fspath(source)}: revisions are for hub ids"
                )
            folder = Path(os.fspath(source)).expanduser()
            return cls._load_package(
                FetchSource(FetchFrom.LOCAL, str(folder)),
                hparams_file,
                folder=folder,
                **kwargs,
            )
        repo_id, revision = split_revision(source, revision)
        fetch_config = kwargs.get("fetch_config") or FetchConfig()
        if revision:
            # A savedir keeps the files of whatever revision filled it
            # first; updating makes it follow the revision asked for.
            fetch_config = dataclasses.replace(
                fetch_config,
                revision=revision,
                allow_updates=fetch_config.allow_updates
                or kwargs.get("savedir") is not None,
            )
        kwargs["fetch_config"] = fetch_config
        announce_fetch(repo_id, revision)
        # Said explicitly: SpeechBrain would take a local folder of the
        # same name instead (which ``hf://`` passes over).
        hub = FetchSource(FetchFrom.HUGGING_FACE, repo_id)
        try:
            return cls._load_package(hub, hparams_file, where=repo_id, **kwargs)
        except Exception as error:
            failure = find_hub_failure(error)
            if failure is None:
                raise
            offline = None
            if not fetch_config.allow_network:
                offline = "fetch_config.allow_network is False"
            raise hub_error(
                repo_id,
                revision,
                "model",
                failure,
                cache_dir=fetch_config.huggingface_cache_dir,
                offline=offline,
            ) from None

    @classmethod
    def _load_package(
        cls,
        source,
        hparams_file,
        folder=None,
        where=None,
        overrides=None,
        overrides_must_match=True,
        savedir=None,
        download_only=False,
        local_strategy=LocalStrategy.SYMLINK,
        fetch_config=None,
        **kwargs,
    ):
        """SpeechBrain's ``pretrained_from_hparams``, with the manifest
        checked before the YAML runs and the weights loaded strictly.

        ``folder`` is the local package folder (None for the hub),
        ``where`` names the package in messages; the other arguments are
        ``pretrained_from_hparams``'s.
        """
        fetch_config = fetch_config or FetchConfig()
        fetching = dict(
            local_strategy=local_strategy, fetch_config=fetch_config
        )
        if where is None:
            where = os.fspath(folder) if folder else str(_location(source))
        hparams_path = fetch(
            filename=hparams_file, source=source, savedir=savedir, **fetching
        )
        manifest = cls._read_manifest(source, folder, where, savedir, fetching)
        if manifest is not None:
            files = {hparams_file: hparams_path}
            if folder is not None:
                files.update(
                    (name, folder / name)
                    for name in manifest
                    if (folder / name).is_file()
                )
            _check_package_files(manifest, files, where, savedir)
        with open(hparams_path, encoding="utf-8") as stream:
            hparams = load_hyperpyyaml(
                stream, overrides or {}, overrides_must_match
            )
        hparams["savedir"] = savedir
        pretrainer = hparams.get("pretrainer")
        if not isinstance(pretrainer, Pretrainer):
            raise ValueError(
                f"{hparams_path}: 'pretrainer' must be a SpeechBrain "
                "Pretrainer (speechbrain.utils.parameter_transfer)"
            )
        names = _package_names(pretrainer, source)
        pretrainer.set_collect_in(savedir)
        pretrainer.collect_files(default_source=source, **fetching)
        if manifest is not None:
            _check_package_files(
                manifest,
                {file: pretrainer.paths[name] for name, file in names.items()},
                where,
                savedir,
            )
        if download_only:
            return None
        _load_weights(pretrainer, hparams, hparams_path)
        return cls(modules=hparams["modules"], hparams=hparams, **kwargs)

    @staticmethod
    def _read_manifest(source, folder, where, savedir, fetching):
        """The package's ``checksums.sha256`` (see
        :mod:`speechbrain_wav2small.utils.checksums`), or None, with a
        warning, when it has none."""
        if folder is not None:
            if (folder / CHECKSUMS_FILE).is_file():
                return read_checksums(folder)
            reason = f"has no {CHECKSUMS_FILE}"
        else:
            # Straight from the source (its cache), not from the savedir:
            # the savedir's files are among those it checks.
            if guess_source(source)[0] != FetchFrom.URI:
                savedir = None
            try:
                path = fetch(
                    filename=CHECKSUMS_FILE,
                    source=source,
                    savedir=savedir,
                    **fetching,
                )
                return read_checksums(Path(path).parent)
            except Exception as error:
                failure = find_hub_failure(error)
                names = {c.__name__ for c in type(failure).__mro__}
                if "LocalEntryNotFoundError" in names:
                    reason = (
                        f"has no {CHECKSUMS_FILE} in the cache and the hub "
                        "cannot be reached"
                    )
                elif "EntryNotFoundError" in names:
                    reason = f"has no {CHECKSUMS_FILE}"
                else:
                    raise
        logger.warning(
            "%s %s, so its files were not checked; %s",
            where,
            reason,
            _CODE_WARNING,
        )
        return None

    def predict_batch(self, wavs, wav_lens=None):
        """Predicts a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor or numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        torch.Tensor
            float32 [batch, 3]: arousal, dominance, valence.

        Raises
        ------
        ValueError
            A batch that is not [batch, time] or [time], empty, with NaN
            or Inf samples, or lengths that are not one per clip in
            (0, 1] (see ``file_prediction.check_batch``).
        """
        wavs, wav_lens = self._batch(wavs, wav_lens)
        with torch.no_grad():
            return self.mods.model(wavs, wav_lens).float()

    def embed_batch(self, wavs, wav_lens=None):
        """The embeddings of a batch of waveforms: the pooled features the
        model's head reads (``model.embed``), e.g. to train a classifier
        on; ``predict_batch`` is the head on them.

        Arguments
        ---------
        wavs : torch.Tensor or numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        torch.Tensor
            float32 [batch, F] (F = 338 for Wav2Small, 1024 or 1280 for
            the MobileNets).

        Raises
        ------
        ValueError
            The model has no ``embed`` and ``head`` (a student of one's
            own that only honours ``forward``); a batch that
            :meth:`predict_batch` refuses.
        """
        wavs, wav_lens = self._batch(wavs, wav_lens)
        with torch.no_grad():
            return self._embedding_model().embed(wavs, wav_lens).float()

    @property
    def embedding_size(self):
        """F, the length of the model's embeddings (raises ``ValueError``
        as :meth:`embed_batch` does for a model without them)."""
        silence = torch.zeros(1, self.sample_rate)
        return int(self.embed_batch(silence).shape[1])

    @property
    def min_samples(self):
        """Fewest samples the model takes in one clip (its front end's
        ``n_fft``; shorter clips are padded), or None when it has none:
        the shortest window of the file methods."""
        front_end = getattr(self.mods.model, "front_end", None)
        n_fft = getattr(front_end, "n_fft", None)
        return int(n_fft) if n_fft else None

    def _embedding_model(self):
        """The model, checked to have ``embed`` and ``head``."""
        model = self.mods.model
        if not has_embeddings(model):
            raise ValueError(
                f"this model ({type(model).__name__}) has no "
                "embed(wavs, lengths) and head, so it gives no embeddings; "
                "the students of speechbrain-wav2small all have them"
            )
        return model

    def _batch(self, wavs, wav_lens):
        """``wavs`` as float32 [batch, time] and ``wav_lens`` (all 1 when
        None) as float32 [batch], on the model's device."""
        wavs = torch.as_tensor(wavs, dtype=torch.float32)
        check_batch(wavs, wav_lens)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        wav_lens = torch.as_tensor(wav_lens, dtype=torch.float32)
        return wavs.to(self.device), wav_lens.to(self.device)

    def _predict_arrays(self, arrays):
        """Predicts 1-D float32 arrays; returns numpy float64 [n, 3]."""
        wavs, lengths = pad_arrays(arrays)
        scores = self.predict_batch(
            torch.from_numpy(wavs), torch.from_numpy(lengths)
        )
        return scores.cpu().numpy().astype(np.float64)

    def _predict_and_embed_arrays(self, arrays):
        """Scores [n, 3] and embeddings [n, F] (numpy float64) of 1-D
        float32 arrays, from one pass: the head on the embeddings."""
        wavs, lengths = self._batch(*map(torch.from_numpy, pad_arrays(arrays)))
        model = self._embedding_model()
        with torch.no_grad():
            embeddings = model.embed(wavs, lengths)
            scores = model.head(embeddings)
        return tuple(
            values.float().cpu().numpy().astype(np.float64)
            for values in (scores, embeddings)
        )

    def forward(self, wavs, wav_lens=None):
        """Runs :meth:`predict_batch`."""
        return self.predict_batch(wavs, wav_lens)


def _check_package_files(manifest, files, where, savedir):
    """:func:`check_files`, its message saying what to do."""
    try:
        check_files(manifest, files, where)
    except ChecksumError as error:
        fix = "get the package again from where it came from"
        if savedir is not None:
            fix += (
                f" (savedir {os.fspath(savedir)} keeps the files that first "
                "filled it: empty it)"
            )
        raise ChecksumError(
            f"{error}; nothing was loaded ({HPARAMS_FILE} is code): {fix}, "
            f"or delete {CHECKSUMS_FILE} to load a folder you changed "
            "yourself",
            extra=error.extra,
            changed=error.changed,
        ) from None


def _package_names(pretrainer, source):
    """Loadable name -> the package file it is collected from, for the
    loadables that come from ``source`` (those given another path in the
    YAML come from elsewhere, which the YAML, checked, names)."""
    names = {}
    for name in pretrainer.loadables:
        if not pretrainer.is_loadable(name):
            continue
        if name not in pretrainer.paths:
            names[name] = f"{name}.ckpt"
            continue
        where, file = pretrainer.split_path(pretrainer.paths[name])
        if os.path.normpath(_location(where)) == os.path.normpath(
            _location(source)
        ):
            names[name] = file
    return names


def _location(source):
    """The path or id of a source, be it a ``FetchSource`` or not."""
    return str(source.path if isinstance(source, FetchSource) else source)


def _load_weights(pretrainer, hparams, hparams_path):
    """Loads every loadable of ``pretrainer`` strictly (see
    :func:`load_module_strictly`) and checks that every parameter and
    buffer of the model was among them."""
    model = hparams.get("modules", {}).get("model")
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"{hparams_path}: 'modules' must contain a 'model' (a "
            "torch.nn.Module)"
        )
    loaded = []
    for name, loadable in pretrainer.loadables.items():
        if not pretrainer.is_loadable(name):
            continue
        if not isinstance(loadable, torch.nn.Module):
            raise ValueError(
                f"{hparams_path}: the pretrainer's {name!r} is a "
                f"{type(loadable).__name__}; only the weights of torch "
                "modules are loaded (strictly, from their checkpoints)"
            )
        if name in pretrainer.custom_hooks:
            raise ValueError(
                f"{hparams_path}: the pretrainer gives {name!r} a custom "
                "load hook; the weights of a model are loaded strictly from "
                "its checkpoint, without one"
            )
        load_module_strictly(
            loadable,
            pretrainer.paths[name],
            what=f"the pretrainer's {name!r} of {hparams_path}",
        )
        loaded.append(loadable)
    covered = {
        id(tensor)
        for module in loaded
        for tensor in module.state_dict(keep_vars=True).values()
    }
    left = sorted(
        key
        for key, tensor in model.state_dict(keep_vars=True).items()
        if id(tensor) not in covered
    )
    if left:
        raise ValueError(
            f"{hparams_path}: its pretrainer loads no checkpoint into these "
            f"weights of the model, which would keep random values: "
            f"{few(left)}"
        )
