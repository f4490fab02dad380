"""Writes that leave a whole file or none: readers (the app, a resume) never see a partial one."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vae_core.files.names import ATOMIC_TMP_MARK

if TYPE_CHECKING:  # torch only where tensors are written: readers of the zoo's files do without it
    from torch import Tensor


def save_tensors(tensors: dict[str, Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file as every other file of a checkpoint is written, so its permission bits follow the
    umask like the JSON beside it (0644 under umask 022): safetensors' own save_file creates 0600 files, which
    another user (a shared folder, a container) cannot read."""
    from safetensors.torch import save as safetensors_bytes

    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata=metadata))


def atomic_temp_of(entry: str) -> str | None:
    """The file name whose interrupted ``atomic_write`` left ``entry`` behind, or None if it is no such file."""
    m = re.fullmatch(rf"\.(.+){re.escape(ATOMIC_TMP_MARK)}\d+", entry)
    return m.group(1) if m else None


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see a partial file."""
    tmp = path.with_name(f".{path.name}{ATOMIC_TMP_MARK}{os.getpid()}")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
