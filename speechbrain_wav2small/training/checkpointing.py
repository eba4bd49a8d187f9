"""A SpeechBrain checkpointer whose checkpoints survive a kill mid-save.

SpeechBrain's :class:`~speechbrain.utils.checkpoints.Checkpointer` writes a
checkpoint's ``CKPT.yaml`` first and its parameter files after it. The
metafile is what makes a folder a checkpoint, so a process killed between
the two (SIGKILL, out of memory, a pre-empted job) leaves a checkpoint
that ``recover_if_possible`` picks as the newest and then fails to load
(``EOFError`` from a truncated ``model.ckpt``): the run cannot resume
without a user deleting folders by hand.

:class:`AtomicCheckpointer` writes the metafile last, under a temporary
name renamed into place once every parameter file is written, so a folder
is a checkpoint only once it is complete. Folders left incomplete by a
killed save are removed before recovery: nothing in them can be loaded.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
import os
import shutil

from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    Checkpointer,
)
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)

#: Suffix of a metafile not yet renamed into place.
PARTIAL_SUFFIX = ".partial"


class AtomicCheckpointer(Checkpointer):
    """A ``Checkpointer`` that writes each checkpoint's metafile last.

    Arguments and use are those of SpeechBrain's ``Checkpointer``; in a
    hyperparameters file,
    ``checkpointer: !new:speechbrain_wav2small.training.checkpointing.AtomicCheckpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> model = torch.nn.Linear(2, 1)
    >>> checkpointer = AtomicCheckpointer(folder, {"model": model})
    >>> _ = checkpointer.save_checkpoint(name="first")
    >>> sorted(p.name for p in checkpointer.list_checkpoints()[0].path.iterdir())
    ['CKPT.yaml', 'model.ckpt']
    """

    def save_checkpoint(self, *args, **kwargs):
        """Saves as ``Checkpointer.save_checkpoint``, the metafile last.

        Arguments
        ---------
        *args : tuple
            As ``Checkpointer.save_checkpoint``.
        **kwargs : dict
            As ``Checkpointer.save_checkpoint``.

        Returns
        -------
        speechbrain.utils.checkpoints.Checkpoint or None
            The saved checkpoint (``None`` on other processes than the
            main one).
        """
        checkpoint = super().save_checkpoint(*args, **kwargs)
        if checkpoint is not None:
            final = checkpoint.path / METAFNAME
            os.replace(_partial(final), final)
        return checkpoint

    def save_and_keep_only(self, *args, importance_keys=None, **kwargs):
        """As ``Checkpointer.save_and_keep_only``, with its own key list.

        SpeechBrain's default ``importance_keys=[]`` is one list shared by
        every call, and ``keep_recent`` appends to it: after one call with
        ``keep_recent=True`` every later call in the process also keeps the
        newest checkpoint. Each call here gets a fresh list.

        Arguments
        ---------
        *args : tuple
            As ``Checkpointer.save_and_keep_only``.
        importance_keys : list, optional
            As ``Checkpointer.save_and_keep_only``.
        **kwargs : dict
            As ``Checkpointer.save_and_keep_only``.
        """
        super().save_and_keep_only(
            *args, importance_keys=list(importance_keys or []), **kwargs
        )

    def _save_checkpoint_metafile(self, fpath, *args, **kwargs):
        """Writes the metafile under its temporary name, flushed to disk."""
        meta = super()._save_checkpoint_metafile(
            _partial(fpath), *args, **kwargs
        )
        with open(_partial(fpath), "rb") as stream:
            os.fsync(stream.fileno())
        return meta

    def recover_if_possible(self, *args, **kwargs):
        """Removes incomplete checkpoints, then recovers as SpeechBrain does.

        Arguments
        ---------
        *args : tuple
            As ``Checkpointer.recover_if_possible``.
        **kwargs : dict
            As ``Checkpointer.recover_if_possible``.

        Returns
        -------
        speechbrain.utils.checkpoints.Checkpoint or None
            The checkpoint recovered from, if any.
        """
        if if_main_process():
            self.remove_incomplete()
        return super().recover_if_possible(*args, **kwargs)

    def remove_incomplete(self):
        """Removes checkpoint folders a killed save left without a metafile.

        Returns
        -------
        list of pathlib.Path
            The folders removed.
        """
        removed = []
        if not self.checkpoints_dir.is_dir():
            return removed
        for path in sorted(self.checkpoints_dir.iterdir()):
            if (
                path.is_dir()
                and path.name.startswith(CKPT_PREFIX)
                and not (path / METAFNAME).exists()
            ):
                shutil.rmtree(path)
                removed.append(path)
                logger.warning(
                    "Removed %s: a save was interrupted there, so it holds "
                    "no usable checkpoint",
                    path,
                )
        return removed


def _partial(path):
    """The temporary name of the metafile ``path``."""
    return path.with_name(path.name + PARTIAL_SUFFIX)
