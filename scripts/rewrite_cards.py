"""Rewrite the model cards (README.md) that are not what their checkpoint's files render now, then index.json:
after a change to how cards or the index are written (vae_core.zoo.cards, vae_core.zoo.index), or to the ledger.
eval.json, config.json and the weights are read, never written. tests/test_zoo_spec.py names the stale ones.

    python -m scripts.rewrite_cards [checkpoints]
"""
from __future__ import annotations

import sys

from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.cards import rewrite_cards
from vae_core.zoo.index import write_index


def main(root: str = str(DEFAULT_ZOO)) -> int:
    try:
        rewritten = rewrite_cards(root)
        index = write_index(root)
    except (ValueError, OSError) as e:  # a damaged or missing file, in one sentence: nothing written
        print(e, file=sys.stderr)
        return 1
    print(f"{len(rewritten)} model card(s) rewritten{': ' + ', '.join(rewritten) if rewritten else ''}; "
          f"{index} written")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
