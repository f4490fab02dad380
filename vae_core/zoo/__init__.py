"""The zoo's artefacts: reading checkpoints (``checkpoints``), the spec zoo.toml (``spec``), training it
(``build``), writing eval.json (``evaluate``), model cards (``cards``), index.json (``index``) and the Burda
ledger (``ledger``). ``load_model`` is the entry point the model cards cite."""
from vae_core.zoo.checkpoints import load_model

__all__ = ["load_model"]
