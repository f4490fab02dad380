"""Publish checkpoint folders (weights, config, history, eval.json and model card) to a Hugging Face Hub repo.

    python -m scripts.publish_to_hub --repo-id you/vae-decoder-zoo checkpoints/mnist-gaussian-pixel
    python -m scripts.publish_to_hub --repo-id you/vae-decoder-zoo --all          # the whole zoo + index.json

The repo then has the same layout as checkpoints/, so the app loads it with the zoo source set to the repo id
(and a revision). Needs a token (`huggingface-cli login` or $HF_TOKEN) and a connection to the Hub.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import ZooError, read_checkpoint

IGNORE = ["optimizer.safetensors", "training_state.json", "*.tmp*", ".*"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="*", help="checkpoint folders to publish")
    p.add_argument("--repo-id", required=True, help="owner/name of a model repo (created if missing)")
    p.add_argument("--all", action="store_true", help="publish the whole zoo folder, index.json included")
    p.add_argument("--zoo", default=str(DEFAULT_ZOO), help="the zoo folder for --all")
    p.add_argument("--revision", default=None, help="branch to push to (default main)")
    p.add_argument("--private", action="store_true")
    args = p.parse_args(argv)
    if not args.folders and not args.all:
        p.error("give checkpoint folders or --all")
    try:
        for folder in args.folders:
            read_checkpoint(folder)  # refuse to publish a broken checkpoint
    except ZooError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(args.repo_id, repo_type="model", private=args.private, exist_ok=True)
        if args.all:
            api.upload_folder(repo_id=args.repo_id, folder_path=args.zoo, revision=args.revision,
                              ignore_patterns=IGNORE, commit_message="Publish the VAE decoder zoo")
        for folder in args.folders:
            folder = Path(folder)
            api.upload_folder(repo_id=args.repo_id, folder_path=folder, path_in_repo=folder.name,
                              revision=args.revision, ignore_patterns=IGNORE,
                              commit_message=f"Publish {folder.name}")
    except Exception as e:  # offline, no token, no permission: one sentence
        print(f"error: could not publish to the Hugging Face Hub repo {args.repo_id} ({type(e).__name__}: "
              f"{str(e).splitlines()[0][:200] if str(e) else 'no details'}).", file=sys.stderr)
        return 1
    print(f"published to https://huggingface.co/{args.repo_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
