"""Upload a package folder to the Hugging Face model hub.

FOLDER is a folder written by `wav2small package` or `import-audeering`;
owner/name is the model repository, created when it does not exist. The
folder is refused unless its files are exactly those of its
checksums.sha256, unchanged, and it loads (with PyTorch, and with
onnxruntime for each ONNX file) to the numbers recorded when it was
packaged. Then exactly those files and the manifest are uploaded; a
package file of an earlier upload that this folder lacks (model.int8.onnx,
say) is deleted from the repository in the same upload. The token is
huggingface_hub's own: `hf auth login`, or the HF_TOKEN variable.
--dry-run checks and prints what would be uploaded (each file with its
size and SHA-256, the total, the target, the card's front matter as the
hub reads it) and sends nothing.
"""

import json
import sys

import yaml

from speechbrain_wav2small.cli.common import reports_user_errors
from speechbrain_wav2small.packaging.push import (
    DEFAULT_REVISION,
    PushError,
    push_package,
)


def add_arguments(parser):
    """Adds this subcommand's options."""
    parser.add_argument(
        "folder", metavar="FOLDER", help="package folder to upload"
    )
    parser.add_argument(
        "repo_id", metavar="owner/name", help="model repository on the hub"
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="create the repository private (one that exists keeps its "
        "visibility)",
    )
    parser.add_argument(
        "--revision",
        "--branch",
        dest="revision",
        help=f"branch to commit to, created if needed (default "
        f"{DEFAULT_REVISION})",
    )
    parser.add_argument(
        "--commit-message",
        "--commit_message",
        dest="commit_message",
        help="commit message (default: names the student and the version)",
    )
    parser.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help="check and print what would be uploaded; send nothing",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the plan (and the commit) as JSON",
    )


@reports_user_errors(PushError)
def run(args):
    """Checks, then uploads (or only prints, with --dry-run); returns the
    exit status."""
    plan = push_package(
        args.folder,
        args.repo_id,
        revision=args.revision,
        private=args.private,
        commit_message=args.commit_message,
        dry_run=args.dry_run,
    )
    plan["dry_run"] = args.dry_run
    if args.json:
        print(json.dumps(plan, indent=2))
    else:
        print_plan(plan)
    card_repo_id = plan["card_repo_id"]
    if card_repo_id and card_repo_id != plan["repo_id"]:
        print(
            f"warning: the card's usage snippets load {card_repo_id!r}, not "
            f"{plan['repo_id']!r}; package again with --repo-id "
            f"{plan['repo_id']} to match",
            file=sys.stderr,
        )
    return 0


def print_plan(plan, stream=None):
    """Prints the checks, the files and the target of a push.

    Arguments
    ---------
    plan : dict
        As :func:`speechbrain_wav2small.packaging.push.push_package`
        returns, with ``dry_run``.
    stream : io.TextIOBase, optional
        Where to print (standard output by default).

    Example
    -------
    >>> print_plan({
    ...     "folder": "pkg", "repo_id": "me/w2s", "url": "https://hf.co/me/w2s",
    ...     "revision": "main", "private": False, "commit_message": "Upload",
    ...     "files": [{"name": "README.md", "bytes": 1200,
    ...                "sha256": "ab" * 32}],
    ...     "total_bytes": 1200, "delete_patterns": [],
    ...     "card": {"license": "mit"}, "dry_run": True,
    ...     "checks": {"reload": {"model.ckpt": 0.0},
    ...                "recorded_outputs": True},
    ... })  # doctest: +NORMALIZE_WHITESPACE
    checked pkg: its files match checksums.sha256, it reloads to the
      numbers recorded when it was packaged (max abs diff: model.ckpt 0)
    would upload to me/w2s (https://hf.co/me/w2s), branch main (a new
      repository is public), commit message 'Upload':
      abababababababababababababababababababababababababababababababab
        1,200 bytes  README.md
      total 1,200 bytes in 1 file
    card front matter, as the hub reads it:
      license: mit
    dry run: nothing was uploaded
    """
    stream = stream or sys.stdout
    checks = plan["checks"]
    compared = {k: v for k, v in checks["reload"].items() if v is not None}
    loaded = [name for name in checks["reload"] if name not in compared]
    reload = []
    if compared:
        figures = ", ".join(f"{k} {v:.2g}" for k, v in compared.items())
        reload.append(
            "it reloads to the numbers recorded when it was packaged "
            f"(max abs diff: {figures})"
        )
    if loaded:
        reload.append(
            f"{', '.join(loaded)} load and run (no recorded numbers to "
            "compare with)"
        )
    print(
        f"checked {plan['folder']}: its files match checksums.sha256, "
        + ", ".join(reload),
        file=stream,
    )
    verb = "would upload" if plan["dry_run"] else "uploaded"
    visibility = "private" if plan["private"] else "public"
    print(
        f"{verb} to {plan['repo_id']} ({plan['url']}), branch "
        f"{plan['revision']} (a new repository is {visibility}), commit "
        f"message {plan['commit_message']!r}:",
        file=stream,
    )
    for entry in plan["files"]:
        print(
            f"  {entry['sha256']}  {entry['bytes']:>12,} bytes  "
            f"{entry['name']}",
            file=stream,
        )
    count = len(plan["files"])
    print(
        f"  total {plan['total_bytes']:,} bytes in {count} "
        f"file{'' if count == 1 else 's'}",
        file=stream,
    )
    if plan["delete_patterns"]:
        print(
            "deleted from the repository if there (files of another "
            f"package): {', '.join(plan['delete_patterns'])}",
            file=stream,
        )
    print("card front matter, as the hub reads it:", file=stream)
    front_matter = yaml.safe_dump(plan["card"], sort_keys=False)
    for line in front_matter.splitlines():
        print(f"  {line}", file=stream)
    if plan["dry_run"]:
        print("dry run: nothing was uploaded", file=stream)
    else:
        print(f"commit: {plan.get('commit_url')}", file=stream)
