"""Score a binary checkpoint's test NLL on other binarizations of the test set: the command line of
vae_core.zoo.binarizations (its docstring has the usage).

    python -m scripts.binarizations --help
"""
import sys

from vae_core.zoo.binarizations import main

if __name__ == "__main__":
    sys.exit(main())
