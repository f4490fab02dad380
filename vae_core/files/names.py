"""Every file and folder name of a checkpoint, a run and the zoo, and where the shipped artefacts live. The one
place these names are written: everything else imports them."""
from __future__ import annotations

from pathlib import Path

# A checkpoint folder (the same names for a classifier's folder: classifiers/<dataset>/)
CONFIG_NAME = "config.json"              # VAEConfig as JSON
WEIGHTS_NAME = "model.safetensors"       # the weights (safetensors: never unpickled)
EVAL_NAME = "eval.json"                  # the zoo's evaluation (files.schema.Evaluation)
CARD_NAME = "README.md"                  # the model card (zoo.cards.model_card)
HISTORY_NAME = "history.jsonl"           # one line per epoch (files.schema.HistoryLine)
SNAPSHOTS_DIR = "snapshots"              # snapshots/epoch-NNNN/: the weights of chosen epochs
# ... and what only a run in progress (or one to be continued) holds
STATE_NAME = "training_state.json"       # the committed epoch (training.run_folder)
OPTIMIZER_NAME = "optimizer.safetensors" # Adam's state, dropped from shipped checkpoints
STAGING_DIR = ".staging"                 # a save in progress; left behind by a run killed while saving
# The label of a folder trained by `train.py --train-on-sample`: its presence is how a resume knows which data the
# run saw.
SAMPLE_MARKER = "TRAINED_ON_SAMPLE.txt"
ATOMIC_TMP_MARK = ".tmp"  # files.atomic's temporary file is .<name>.tmp<pid>; a kill can leave one behind

# The zoo folder
INDEX_NAME = "index.json"                # one row per checkpoint (zoo.index.write_index)



# The shipped artefacts, in the repository
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ZOO = REPO_ROOT / "checkpoints"
DEFAULT_SPEC = REPO_ROOT / "zoo.toml"
CLASSIFIER_DIR = REPO_ROOT / "classifiers"
LEDGER_JSON = REPO_ROOT / "docs" / "burda_ledger.json"
BINARIZATIONS_JSON = REPO_ROOT / "docs" / "binarizations.json"  # a binary model's test NLL under other draws
