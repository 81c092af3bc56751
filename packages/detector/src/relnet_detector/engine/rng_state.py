"""Saving and restoring every RNG a training process draws from, as checkpoint-safe values.

torch (CPU and the process's CUDA device), numpy's and Python's global generators: seeded at the
start of a run and saved per process in every checkpoint, so that a resumed process continues
each stream where it stopped. The numpy and Python generators are the global ones (not
``numpy.random.Generator`` objects) because user transforms and third-party code draw from them.
The values are plain types and tensors, so a checkpoint holding them loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "seed_everything", "set_rng_state"]


def seed_everything(seed: int) -> None:
    """Seed torch (every device), numpy's and Python's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)


def get_rng_state(device: torch.device) -> dict[str, Any]:
    """This process's RNG states as plain types and tensors (``weights_only`` loadable)."""
    version, mt, gauss = random.getstate()
    np_state: Any = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, mt, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in mt), gauss))
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
