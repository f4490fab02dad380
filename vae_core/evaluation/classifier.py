"""A small CNN per dataset, trained by the project: its penultimate features are the space in which the
Frechet distance between model outputs and the test set is measured (a dataset-specific analogue of FID,
Heusel et al. 2017). Trained on a mix of dequantized, 8-bit and binarized inputs so that every data kind of the
zoo lands in-distribution.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from vae_core.base.data import DATA_KINDS, to_model_input
from vae_core.files.atomic import atomic_write, save_tensors
from vae_core.files.names import CLASSIFIER_DIR, CONFIG_NAME, EVAL_NAME, WEIGHTS_NAME

KIND_MIX = ("continuous", "continuous", "discrete", "discrete", "binary")  # default: binarized 1 batch in 5


@dataclass
class ClassifierConfig:
    dataset: str = "mnist"
    channels: tuple[int, int] = (32, 64)
    features: int = 128   # width of the feature layer used for the Frechet distance
    num_classes: int = 10


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (B, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 49, config.features), nn.ReLU(),  # (B, F)
        )
        self.head = nn.Linear(config.features, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, x: Tensor, batch_size: int = 1000) -> np.ndarray:
        """Penultimate activations (N, F) for images (N, 1, 28, 28) in [0, 1]."""
        self.eval()
        return torch.cat([self.body(b.clamp(0, 1)) for b in x.split(batch_size)]).numpy()

    def save(self, folder: Path, metrics: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_tensors(state, tmp))
        (folder / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        (folder / EVAL_NAME).write_text(json.dumps(metrics, indent=2) + "\n")


def load_classifier(dataset: str, root: str | os.PathLike | None = None) -> Classifier:
    folder = Path(root or CLASSIFIER_DIR) / dataset
    if not (folder / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"{folder}: no classifier; train one with scripts/train_classifiers.py")
    config = json.loads((folder / CONFIG_NAME).read_text())
    model = Classifier(ClassifierConfig(**{**config, "channels": tuple(config["channels"])}))
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)), strict=True)
    return model.eval()


def random_shift(x: Tensor, gen: torch.Generator, max_shift: int = 2) -> Tensor:
    """Translate the whole batch by up to ``max_shift`` pixels (zero fill): cheap augmentation."""
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    x = F.pad(x, (max_shift,) * 4)
    return x[..., max_shift + dy: max_shift + dy + 28, max_shift + dx: max_shift + dx + 28]


def train_classifier(dataset: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                     epochs: int = 8, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                     kind_mix: tuple[str, ...] = KIND_MIX,
                     progress: bool = True) -> tuple[Classifier, dict]:
    """Adam on cross-entropy; each batch is transformed to a random data kind. Returns the model and metrics."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Classifier(ClassifierConfig(dataset=dataset))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * (len(train[0]) // batch_size + 1))
    images, labels = torch.from_numpy(np.array(train[0])), torch.from_numpy(train[1])
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        for i in tqdm(range(0, len(images), batch_size), desc=f"classifier epoch {epoch + 1}", disable=not progress,
                      leave=False, mininterval=5):
            idx = order[i:i + batch_size]
            kind = kind_mix[int(torch.randint(len(kind_mix), (1,), generator=gen))]
            x = random_shift(to_model_input(images[idx], kind, gen), gen)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for kind in DATA_KINDS:
            x = to_model_input(torch.from_numpy(np.array(test[0])), kind, torch.Generator().manual_seed(0))
            pred = torch.cat([model(b).argmax(1) for b in x.split(1000)])
            accuracy[kind] = float((pred == torch.from_numpy(test[1])).double().mean())
    metrics = {"dataset": dataset, "test_accuracy": accuracy["discrete"], "test_accuracy_by_data_kind": accuracy,
               "epochs": epochs, "kind_mix": list(kind_mix), "seconds": time.perf_counter() - t0}
    return model, metrics
