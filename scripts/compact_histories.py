"""Drop the step traces that each run's history.jsonl no longer keeps (vae_core.training.loop.keeps_trace), as a
resumed run's next commit does, in every run folder of a zoo (or the folders named): for histories written before
the bound. The weights and every other file stay as they are; training_state.json gets the new file's sha256.
Do not run it on a folder that is training.

    python -m scripts.compact_histories [checkpoints | FOLDER ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from vae_core.files.names import DEFAULT_ZOO, HISTORY_NAME, STATE_NAME
from vae_core.training.loop import compact_history


def run_folders(folder: Path) -> list[Path]:
    """``folder`` itself if it is a run, else its sub-folders that are (with a state and a history)."""
    candidates = [folder] if (folder / STATE_NAME).is_file() else sorted(folder.iterdir()) if folder.is_dir() else []
    return [f for f in candidates if (f / STATE_NAME).is_file() and (f / HISTORY_NAME).is_file()]


def main(*paths: str) -> int:
    folders = [Path(p) for p in paths or [str(DEFAULT_ZOO)]]
    runs = [run for folder in folders for run in run_folders(folder)]
    if not runs:
        print(f"no run folder (one with {STATE_NAME} and {HISTORY_NAME}) in {', '.join(map(str, folders))}",
              file=sys.stderr)
        return 1
    failed = 0
    for run in runs:
        try:
            before, after = compact_history(run)
        except (ValueError, OSError) as e:  # a damaged state or history, in one sentence; that folder unchanged
            print(e, file=sys.stderr)
            failed += 1
            continue
        if after != before:
            print(f"{run}: {HISTORY_NAME} {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
