"""Add the best log-likelihood estimate to evaluated checkpoints: the command line of
vae_core.zoo.evaluate_likelihoods (its docstring has the usage).

    python -m scripts.evaluate_likelihoods --help
"""
import sys

from vae_core.zoo.evaluate_likelihoods import main

if __name__ == "__main__":
    sys.exit(main())
