"""Uploading a package folder to the Hugging Face model hub.

:func:`push_package` uploads a folder written by ``wav2small package`` (or
``import-audeering``) only when it passes two checks (:func:`check_package`):

- its files are exactly those of its manifest, unchanged
  (:func:`speechbrain_wav2small.packaging.checksums.verify_checksums`);
- it loads with ``EmotionDimensions`` and, for each ONNX file in it,
  ``OnnxEmotionDimensions``, and they give the numbers recorded when it
  was packaged on the speech shipped with this package
  (:mod:`speechbrain_wav2small.packaging.reference_outputs`).

It then uploads exactly the manifest's files and the manifest through
``huggingface_hub`` (``HfApi.create_repo(exist_ok=True)``, a branch for a
``revision`` other than ``main``, ``HfApi.upload_folder``), with the token
of ``hf auth login`` or ``HF_TOKEN``. A remote file named like a package
file that this folder does not hold (an int8 model of an earlier upload,
say) is deleted in the same upload, so that the repository never pairs
this model with another's files. :func:`upload_plan` says what would be
uploaded, without uploading (``--dry-run``).

Authors
 * speechbrain-wav2small contributors 2026
"""

import glob
import json
import re
from pathlib import Path

from huggingface_hub import HfApi, ModelCard, get_token
from huggingface_hub import constants as hub_constants

from speechbrain_wav2small.packaging.checksums import (
    file_entries,
    verify_checksums,
)
from speechbrain_wav2small.packaging.package import PACKAGE_FILES
from speechbrain_wav2small.packaging.reference_outputs import (
    REFERENCE_OUTPUTS_KEY,
    compare_outputs,
    describe_error,
    measure_package,
)
from speechbrain_wav2small.utils.hub import is_hub_id
from speechbrain_wav2small.utils.model_files import (
    CARD_FILE,
    CHECKSUMS_FILE,
    EXPORT_REPORT_FILE,
)
from speechbrain_wav2small.version import __version__

#: The branch a push goes to unless told otherwise (the hub's default).
DEFAULT_REVISION = "main"

#: Kind of hub repository a package goes to.
REPO_TYPE = "model"

# The hub id the card's usage snippets load (see templates/model_card.md).
_CARD_SOURCE = re.compile(r'from_hparams\(\s*source="([^"]+)"')


class PushError(ValueError):
    """A push refused or failed; the message says why in one line."""


def check_package(folder):
    """Checks a package folder before it is uploaded.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.

    Returns
    -------
    dict
        ``files`` (the manifest: name -> ``bytes``, ``sha256``),
        ``reload`` (model file -> largest difference from the numbers
        recorded on the shipped speech, None where the package records
        none for it, or recorded them on other recordings) and
        ``recorded_outputs`` (whether any was compared).

    Raises
    ------
    speechbrain_wav2small.packaging.checksums.ChecksumError
        Files missing, extra or changed (named), or no manifest.
    speechbrain_wav2small.packaging.reference_outputs.OutputMismatchError
        A model file that does not load, or gives other numbers than those
        recorded (named, with the numbers).

    Example
    -------
    Loading and running the package takes a second or two::

        check_package("models/wav2small")["reload"]
        # {'model.ckpt': 0.0, 'model.onnx': 0.0, 'model.int8.onnx': 0.0}
    """
    folder = _package_folder(folder)
    files = verify_checksums(folder)
    recorded = _export_report(folder).get(REFERENCE_OUTPUTS_KEY)
    measured = measure_package(folder, constant=False)
    reload = compare_outputs(recorded or {}, measured)
    return {
        "files": files,
        "reload": reload,
        "recorded_outputs": any(gap is not None for gap in reload.values()),
    }


def upload_plan(
    folder,
    repo_id,
    revision=None,
    private=False,
    commit_message=None,
):
    """What :func:`push_package` would upload, after checking the folder.

    Arguments
    ---------
    folder : str or os.PathLike
        The package folder.
    repo_id : str
        Target model repository, ``owner/name``.
    revision : str, optional
        Target branch (``main`` when omitted); created if needed.
    private : bool
        Create the repository private (one that exists keeps its
        visibility).
    commit_message : str, optional
        The commit's message (one naming the student and this package's
        version when omitted).

    Returns
    -------
    dict
        ``folder``, ``repo_id``, ``repo_type``, ``url``, ``revision``,
        ``private``, ``commit_message``; ``files`` (``name``, ``bytes``,
        ``sha256`` of each file uploaded, the manifest last),
        ``total_bytes``; ``allow_patterns`` (exactly those files, for
        ``upload_folder``) and ``delete_patterns`` (package files this
        folder lacks, deleted from the repository if there); ``card`` (the
        card's front matter as ``huggingface_hub.ModelCard`` reads it),
        ``card_repo_id`` (the hub id its usage snippets load) and
        ``checks`` (see :func:`check_package`).

    Raises
    ------
    PushError
        ``repo_id`` is not ``owner/name``, or the card's front matter does
        not parse; and the errors of :func:`check_package`.

    Example
    -------
    Checks the package first (a second or two)::

        plan = upload_plan("models/wav2small", "me/wav2small")
        [(f["name"], f["bytes"]) for f in plan["files"]]
    """
    if not is_hub_id(repo_id):
        raise PushError(
            f"{repo_id!r} is not a hub repository id; expected 'owner/name'"
        )
    folder = _package_folder(folder)
    checks = check_package(folder)
    card_path = folder / CARD_FILE
    try:
        card = ModelCard.load(card_path)
    except Exception as error:  # noqa: BLE001 - any failure refuses it
        raise PushError(
            f"{card_path}: the hub cannot read its front matter: "
            + describe_error(error)
        ) from error
    files = [{"name": name, **entry} for name, entry in checks["files"].items()]
    # The manifest goes up too, so that a downloaded copy can be checked.
    manifest = file_entries(folder, [CHECKSUMS_FILE])[CHECKSUMS_FILE]
    files.append({"name": CHECKSUMS_FILE, **manifest})
    names = {entry["name"] for entry in files}
    absent = [name for name in PACKAGE_FILES if name not in names]
    source = _CARD_SOURCE.search(card.content)
    return {
        "folder": str(folder),
        "repo_id": repo_id,
        "repo_type": REPO_TYPE,
        "url": f"{hub_constants.ENDPOINT}/{repo_id}",
        "revision": revision or DEFAULT_REVISION,
        "private": bool(private),
        "commit_message": commit_message
        or f"Upload {_export_report(folder).get('student', 'model')} "
        f"package (speechbrain-wav2small {__version__})",
        "files": files,
        "total_bytes": sum(entry["bytes"] for entry in files),
        "allow_patterns": [glob.escape(entry["name"]) for entry in files],
        "delete_patterns": [glob.escape(name) for name in absent],
        "card": card.data.to_dict(),
        "card_repo_id": source.group(1) if source else None,
        "checks": checks,
    }


def push_package(
    folder,
    repo_id,
    revision=None,
    private=False,
    commit_message=None,
    dry_run=False,
):
    """Checks a package folder and uploads it to the model hub.

    Arguments
    ---------
    folder, repo_id, revision, private, commit_message
        See :func:`upload_plan`.
    dry_run : bool
        Check and plan only; nothing is sent to the hub.

    Returns
    -------
    dict
        The plan (:func:`upload_plan`), plus ``commit_url`` after an
        upload.

    Raises
    ------
    PushError
        No hub token (``hf auth login`` or ``HF_TOKEN``: nothing is
        sent), or the hub refused or could not be reached (the message
        names the error); and the errors of :func:`upload_plan` (nothing
        is sent).

    Example
    -------
    Needs a package, and a token and the network to upload::

        push_package("models/wav2small", "me/wav2small", private=True)
    """
    plan = upload_plan(folder, repo_id, revision, private, commit_message)
    if dry_run:
        return plan
    if get_token() is None:
        raise PushError(
            "no Hugging Face token: log in with `hf auth login` (or "
            "`huggingface-cli login`) or set HF_TOKEN; nothing was uploaded"
        )
    api = HfApi()
    try:
        api.create_repo(
            repo_id, private=private, exist_ok=True, repo_type=REPO_TYPE
        )
        if plan["revision"] != DEFAULT_REVISION:
            api.create_branch(
                repo_id,
                branch=plan["revision"],
                exist_ok=True,
                repo_type=REPO_TYPE,
            )
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=plan["folder"],
            repo_type=REPO_TYPE,
            revision=plan["revision"],
            commit_message=plan["commit_message"],
            allow_patterns=plan["allow_patterns"],
            delete_patterns=plan["delete_patterns"] or None,
        )
    except Exception as error:  # noqa: BLE001 - network, auth, hub errors
        raise PushError(
            f"upload of {plan['folder']} to {repo_id} failed: "
            + describe_error(error)
        ) from error
    plan["commit_url"] = getattr(commit, "commit_url", None)
    return plan


def _package_folder(folder):
    """``folder`` as a path, refused unless it is a folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        if path.exists():
            raise NotADirectoryError(f"{path} is not a package folder")
        raise FileNotFoundError(f"package folder {path} does not exist")
    return path


def _export_report(folder):
    """The package's ``export.json`` ({} when it has none)."""
    path = folder / EXPORT_REPORT_FILE
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise PushError(f"{path} is not JSON: {error}") from None
    if not isinstance(report, dict):
        raise PushError(f"{path} does not hold a JSON object")
    return report
