"""A package's manifest: the SHA-256 and size of every file in it.

Written last by packaging, checked by ``wav2small push`` and by
``EmotionDimensions.from_hparams`` before it runs ``hyperparams.yaml``.
The manifest lives in :mod:`speechbrain_wav2small.utils.checksums`
(torch-free and free of the packaging layer, so that the inference
interfaces read it too); these are its names, for the packaging layer.

Authors
 * speechbrain-wav2small contributors 2026
"""

from speechbrain_wav2small.utils.checksums import (
    HEADER,
    NOT_PACKAGE_PATHS,
    ChecksumError,
    check_files,
    file_entries,
    file_sha256,
    package_files,
    read_checksums,
    verify_checksums,
    write_checksums,
)

__all__ = [
    "HEADER",
    "NOT_PACKAGE_PATHS",
    "ChecksumError",
    "check_files",
    "file_entries",
    "file_sha256",
    "package_files",
    "read_checksums",
    "verify_checksums",
    "write_checksums",
]
