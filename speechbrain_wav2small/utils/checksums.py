"""A package's manifest: the SHA-256 and size of every file in it.

``checksums.sha256`` (``CHECKSUMS_FILE`` of
:mod:`speechbrain_wav2small.utils.model_files`) is written last into a
package's staging folder, so that it describes exactly the folder that is
moved into place. Its lines are those of ``sha256sum`` (which checks a
copy with ``sha256sum -c checksums.sha256``), preceded by comment lines
giving each file's size, which ``sha256sum`` skips::

    # speechbrain-wav2small package: SHA-256 and size of each file.
    # Check: sha256sum -c checksums.sha256
    # size 2091 hyperparams.yaml
    7a0c...e1  hyperparams.yaml

:func:`verify_checksums` holds a folder against it and names every file
that is missing, extra or changed (``wav2small push``);
:func:`check_files` holds the files a loader is about to read against it
(``EmotionDimensions.from_hparams`` checks ``hyperparams.yaml``, which is
code, before it runs, and the checkpoint before it is read).

Torch-free, and free of the packaging layer, so that the inference
interfaces can import it.

Authors
 * speechbrain-wav2small contributors 2026
"""

import hashlib
import re
from pathlib import Path

from speechbrain_wav2small.utils.durable import atomic_write
from speechbrain_wav2small.utils.model_files import CHECKSUMS_FILE

#: Paths that tools leave in a copy of a package and that are never part
#: of it: git's folder and huggingface_hub's ``--local-dir`` cache (which
#: ``upload_folder`` never uploads), and the ``.gitattributes`` every hub
#: repository holds (which ``wav2small push`` never uploads).
NOT_PACKAGE_PATHS = (".git", ".cache/huggingface", ".gitattributes")

HEADER = (
    "# speechbrain-wav2small package: SHA-256 and size of each file.\n"
    f"# Check: sha256sum -c {CHECKSUMS_FILE}\n"
)
_SIZE_LINE = re.compile(r"^# size (\d+) (.+)$")
_HASH_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class ChecksumError(ValueError):
    """A folder that does not match its manifest, or has none.

    Arguments
    ---------
    message : str
        What is wrong, naming the folder and the files.
    missing, extra, changed : list of str
        Files listed but absent; present but not listed; whose size or
        SHA-256 differs from the manifest's.
    """

    def __init__(self, message, missing=(), extra=(), changed=()):
        super().__init__(message)
        self.missing = list(missing)
        self.extra = list(extra)
        self.changed = list(changed)


def file_sha256(path):
    """Hex SHA-256 of a file.

    Arguments
    ---------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 hex digits.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     file_sha256(f.name)[:12]
    'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_files(folder):
    """The files of a package folder, as sorted relative POSIX paths.

    Leaves out the manifest itself and :data:`NOT_PACKAGE_PATHS`.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.

    Returns
    -------
    list of str

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("model.onnx", CHECKSUMS_FILE, ".git/HEAD", "a/b.txt"):
    ...     (folder / name).parent.mkdir(exist_ok=True)
    ...     _ = (folder / name).write_text("x")
    >>> package_files(folder)
    ['a/b.txt', 'model.onnx']
    """
    folder = Path(folder)
    names = []
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if name == CHECKSUMS_FILE or path.is_dir():
            continue
        if any(
            name == skipped or name.startswith(f"{skipped}/")
            for skipped in NOT_PACKAGE_PATHS
        ):
            continue
        names.append(name)
    return sorted(names)


def file_entries(folder, names=None):
    """Size and SHA-256 of files of ``folder``.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.
    names : list of str, optional
        Relative paths (default: :func:`package_files`).

    Returns
    -------
    dict
        Name -> ``{"bytes": int, "sha256": str}``, in the order of
        ``names``.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "README.md").write_text("")
    >>> file_entries(folder)["README.md"]["bytes"]
    0
    """
    folder = Path(folder)
    if names is None:
        names = package_files(folder)
    return {
        name: {
            "bytes": (folder / name).stat().st_size,
            "sha256": file_sha256(folder / name),
        }
        for name in names
    }


def write_checksums(folder):
    """Writes the manifest of every file of ``folder``, durably.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder, complete but for its manifest.

    Returns
    -------
    dict
        As :func:`file_entries`.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "README.md").write_text("card\\n")
    >>> entries = write_checksums(folder)
    >>> print((folder / CHECKSUMS_FILE).read_text(), end="")
    # speechbrain-wav2small package: SHA-256 and size of each file.
    # Check: sha256sum -c checksums.sha256
    # size 5 README.md
    ee5a8aebf57ef226f9b73e086350e212d563474aca1576db0f4960021004664f  README.md
    """
    entries = file_entries(folder)
    for name in entries:
        if "\n" in name or "\\" in name:
            raise ValueError(
                f"{Path(folder) / name}: a file name with a line break or a "
                f"backslash cannot be listed in {CHECKSUMS_FILE}"
            )
    sizes = "".join(f"# size {e['bytes']} {n}\n" for n, e in entries.items())
    hashes = "".join(f"{e['sha256']}  {n}\n" for n, e in entries.items())
    atomic_write(Path(folder) / CHECKSUMS_FILE, HEADER + sizes + hashes)
    return entries


def read_checksums(folder):
    """The manifest of ``folder``.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.

    Returns
    -------
    dict
        Name -> ``{"bytes": int or None, "sha256": str}`` (``bytes`` is
        None for a line without a size comment, as plain ``sha256sum``
        writes them).

    Raises
    ------
    ChecksumError
        No manifest, or a line that is neither a comment nor a checksum.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "README.md").write_text("card\\n")
    >>> _ = write_checksums(folder)
    >>> read_checksums(folder)["README.md"]["bytes"]
    5
    """
    path = Path(folder) / CHECKSUMS_FILE
    if not path.is_file():
        raise ChecksumError(
            f"{folder} has no {CHECKSUMS_FILE}, so its files cannot be "
            "checked; package it with `wav2small package` (or "
            "`import-audeering`), which writes one"
        )
    sizes, entries = {}, {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        size = _SIZE_LINE.match(line)
        checksum = _HASH_LINE.match(line)
        if size:
            sizes[size.group(2)] = int(size.group(1))
        elif checksum:
            entries[checksum.group(2)] = {"sha256": checksum.group(1)}
        elif line.strip() and not line.startswith("#"):
            raise ChecksumError(
                f"{path}, line {number}: not a sha256sum line: {line[:80]!r}"
            )
    return {
        name: {"bytes": sizes.get(name), "sha256": entry["sha256"]}
        for name, entry in entries.items()
    }


def verify_checksums(folder):
    """Checks that ``folder`` holds exactly the files of its manifest.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.

    Returns
    -------
    dict
        The manifest (see :func:`read_checksums`), sizes filled in.

    Raises
    ------
    ChecksumError
        No manifest, or files missing, extra or changed: the message names
        each one (a changed file with its recorded and present size or
        SHA-256).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.onnx").write_bytes(b"graph")
    >>> _ = write_checksums(folder)
    >>> list(verify_checksums(folder))
    ['model.onnx']
    >>> _ = (folder / "model.onnx").write_bytes(b"graph!")
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> try:
    ...     verify_checksums(folder)
    ... except ChecksumError as error:
    ...     print(str(error).split(": ", 1)[1])
    changed: model.onnx (5 bytes recorded, 6 now); extra: notes.txt
    """
    folder = Path(folder)
    recorded = read_checksums(folder)
    present = set(package_files(folder))
    missing = [name for name in recorded if name not in present]
    extra = sorted(present - set(recorded))
    changed, problems = [], []
    for name, entry in recorded.items():
        if name in missing:
            continue
        now = file_entries(folder, [name])[name]
        if entry["bytes"] is not None and entry["bytes"] != now["bytes"]:
            problems.append(
                f"{name} ({entry['bytes']} bytes recorded, {now['bytes']} now)"
            )
        elif entry["sha256"] != now["sha256"]:
            problems.append(
                f"{name} (sha256 {entry['sha256'][:12]}... recorded, "
                f"{now['sha256'][:12]}... now)"
            )
        else:
            entry["bytes"] = now["bytes"]
            continue
        changed.append(name)
    if missing or extra or changed:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("missing", missing),
                ("changed", problems),
                ("extra", extra),
            )
            if names
        ]
        raise ChecksumError(
            f"{folder} does not match its {CHECKSUMS_FILE}: "
            + "; ".join(parts),
            missing,
            extra,
            changed,
        )
    return recorded


def check_files(manifest, files, where):
    """Holds files about to be read against a package's manifest.

    Unlike :func:`verify_checksums`, files the manifest lists that are not
    given are not looked for, and a folder's other files are not extra:
    this checks what a loader reads (a hub snapshot's fetched files, or the
    copies in a ``savedir``), wherever they lie.

    Arguments
    ---------
    manifest : dict
        As :func:`read_checksums` returns it.
    files : dict
        Package file name -> local path of the file to check.
    where : str
        The package, for the message.

    Raises
    ------
    ChecksumError
        A file not listed in the manifest, or whose size or SHA-256
        differs from it: the message names each one.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.ckpt").write_bytes(b"weights")
    >>> manifest = {"model.ckpt": file_entries(folder)["model.ckpt"]}
    >>> check_files(manifest, {"model.ckpt": folder / "model.ckpt"}, "pkg")
    >>> _ = (folder / "model.ckpt").write_bytes(b"weightz")
    >>> try:
    ...     check_files(manifest, {"model.ckpt": folder / "model.ckpt"}, "pkg")
    ... except ChecksumError as error:
    ...     print(str(error).split(": ", 1)[1])
    changed: model.ckpt (sha256 9a129038d9a0... recorded, 77231fd145ba... now)
    """
    unlisted, changed, problems = [], [], []
    for name, path in files.items():
        entry = manifest.get(name)
        if entry is None:
            unlisted.append(name)
            continue
        size = Path(path).stat().st_size
        if entry["bytes"] is not None and entry["bytes"] != size:
            problems.append(
                f"{name} ({entry['bytes']} bytes recorded, {size} now)"
            )
        else:
            sha256 = file_sha256(path)
            if sha256 == entry["sha256"]:
                continue
            problems.append(
                f"{name} (sha256 {entry['sha256'][:12]}... recorded, "
                f"{sha256[:12]}... now)"
            )
        changed.append(name)
    if unlisted or changed:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("changed", problems),
                ("not listed", unlisted),
            )
            if names
        ]
        raise ChecksumError(
            f"{where} does not match its {CHECKSUMS_FILE}: " + "; ".join(parts),
            extra=unlisted,
            changed=changed,
        )
