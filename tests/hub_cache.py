"""A Hugging Face hub cache on disk, laid out as ``huggingface_hub`` leaves it.

No network exists on the test machines, so hub ids are tested against a
cache that looks exactly like what ``hf_hub_download`` and
``snapshot_download`` write (``huggingface_hub/file_download.py``,
``_snapshot_download.py``, ``_tree_cache.py``), read by the real library
with ``HF_HUB_OFFLINE=1``::

    HF_HUB_CACHE/                      ($HF_HOME/hub unless set)
        CACHEDIR.TAG
        .locks/models--OWNER--NAME/    download locks
        models--OWNER--NAME/
            blobs/<etag>               file contents, named by their ETag
            refs/main                  the commit hash (no newline)
            refs/<tag>                 one per tag or branch fetched
            snapshots/<commit>/<path>  -> ../../blobs/<etag> (relative link;
                                          one ../ more per subfolder)
            trees/<commit>.json        the file listing of the commit

The ETag is what the hub sends: the sha256 of the content for a file kept
in git LFS (matched by the default ``.gitattributes``, or over 10 MiB),
the git blob sha1 of the content otherwise. The tree listing is written by
``snapshot_download`` in recent versions of the library (older ones ignore
it) and lets the library tell a partial snapshot, such as one fetched with
``allow_patterns``, from a complete one.

:func:`offline_hub` points both the environment (for subprocesses) and the
already imported library at the cache.
"""

import fnmatch
import hashlib
import json
import os
from pathlib import Path

#: The hub's default ``.gitattributes`` (its LFS patterns), as every new
#: model repository gets it.
LFS_PATTERNS = (
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
)
GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in LFS_PATTERNS
)
#: The hub refuses files over 10 MiB outside LFS.
LFS_THRESHOLD = 10 * 1024 * 1024
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)


def git_blob_sha1(data):
    """The git object id of a file's content (the hub's ETag for it)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path, size):
    """Whether the hub keeps ``path`` (repository path) in git LFS."""
    name = path.rsplit("/", 1)[-1]
    return size > LFS_THRESHOLD or any(
        fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern)
        for pattern in LFS_PATTERNS
    )


def tree_entry(path, data):
    """The listing entry of a file, as the hub's ``/tree`` endpoint has it."""
    if not is_lfs(path, len(data)):
        return {"size": len(data), "blob_id": git_blob_sha1(data)}
    sha256 = hashlib.sha256(data).hexdigest()
    pointer = (
        "version https://git-lfs.github.com/spec/v1\n"
        f"oid sha256:{sha256}\nsize {len(data)}\n"
    ).encode()
    return {
        "size": len(data),
        "blob_id": git_blob_sha1(pointer),
        "lfs_sha256": sha256,
        "lfs_size": len(data),
    }


def etag(path, data):
    """The ETag ``hf_hub_download`` names the blob of a file after."""
    entry = tree_entry(path, data)
    return entry.get("lfs_sha256", entry["blob_id"])


def repo_files(folder):
    """``{repository path: bytes}`` of every file under ``folder``."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


class HubCache:
    """Writes repositories into a hub cache folder, commit by commit.

    Arguments
    ---------
    root : str or os.PathLike
        ``HF_HOME``; the cache is ``root / "hub"``.
    """

    def __init__(self, root):
        self.home = Path(root)
        self.cache = self.home / "hub"
        self.cache.mkdir(parents=True, exist_ok=True)
        (self.cache / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)

    def storage(self, repo_id):
        """The folder of ``repo_id`` in the cache."""
        return self.cache / ("models--" + repo_id.replace("/", "--"))

    def add(self, repo_id, files, refs=("main",), downloaded=None):
        """Adds one commit of ``repo_id``, as a download of it leaves it.

        Arguments
        ---------
        repo_id : str
            ``owner/name``.
        files : str or os.PathLike or dict
            A folder whose files make the commit, or ``{path: bytes}``. A
            ``.gitattributes`` with the hub's defaults is added.
        refs : sequence of str
            Branches and tags pointing at this commit (``refs/<name>``).
        downloaded : sequence of str, optional
            The files a previous download fetched (e.g. through
            ``allow_patterns``); all of them by default.

        Returns
        -------
        str
            The 40-hex commit hash.
        """
        if not isinstance(files, dict):
            files = repo_files(files)
        files = {".gitattributes": GITATTRIBUTES.encode(), **files}
        entries = {path: tree_entry(path, data) for path, data in files.items()}
        commit = hashlib.sha1(
            json.dumps([repo_id, entries], sort_keys=True).encode()
        ).hexdigest()
        storage = self.storage(repo_id)
        snapshot = storage / "snapshots" / commit
        for path in files if downloaded is None else downloaded:
            blob = storage / "blobs" / etag(path, files[path])
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(files[path])
            pointer = snapshot.joinpath(*path.split("/"))
            pointer.parent.mkdir(parents=True, exist_ok=True)
            pointer.unlink(missing_ok=True)  # as the library replaces one
            pointer.symlink_to(os.path.relpath(blob, pointer.parent))
        for ref in refs:
            ref_path = storage / "refs" / ref
            ref_path.parent.mkdir(parents=True, exist_ok=True)
            ref_path.write_text(commit)
        trees = storage / "trees"
        trees.mkdir(parents=True, exist_ok=True)
        listing = {"format_version": 1, "files": dict(sorted(entries.items()))}
        (trees / f"{commit}.json").write_text(json.dumps(listing, indent=1))
        (self.cache / ".locks" / storage.name).mkdir(
            parents=True, exist_ok=True
        )
        return commit


def offline_hub(root, monkeypatch):
    """A :class:`HubCache` under ``root`` that the hub library reads offline.

    ``huggingface_hub`` reads its environment once, into
    ``huggingface_hub.constants``, when first imported, and reads those
    constants at each call: both are set here (the environment for
    subprocesses: ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE=1``), and
    undone by ``monkeypatch``.

    Arguments
    ---------
    root : pathlib.Path
        Where the cache lives (``HF_HOME``; the cache is ``root / "hub"``).
    monkeypatch : pytest.MonkeyPatch
        Undoes every change after the test.

    Returns
    -------
    HubCache
    """
    from huggingface_hub import constants

    hub = HubCache(root)
    monkeypatch.setenv("HF_HOME", str(hub.home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub.cache))
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(hub.home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub.cache))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(hub.cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub
