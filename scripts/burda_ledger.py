"""Score training runs (their snapshots too) into the Burda ledger: IWAE-5000 and active units on the binarized
test set: the command line of vae_core.zoo.burda_ledger (its docstring has the usage).

    python -m scripts.burda_ledger --help
"""
import sys

from vae_core.zoo.burda_ledger import main

if __name__ == "__main__":
    sys.exit(main())
