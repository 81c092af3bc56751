"""What ``eval``, ``predict`` and ``explain`` share: loading a run's detector, choosing removers,
reading images. The detector is imported here lazily, never by ``relnet dedup``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from ..errors import CliError
from ..files import require_file
from ..options import resolve_device, split_list
from ..runs import find_checkpoint

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from relnet_detector.config import RemoverConfig
    from relnet_detector.engine.checkpoint import LoadedDetector
    from relnet_detector.modeling.model import RelationDetector

REMOVERS = ("nms", "soft-nms", "learned", "e2e")  # a model's removers
EVAL_REMOVERS = (*REMOVERS, "oracle")  # and the evaluation's ceiling, which knows the truth

RunArgument = Annotated[
    Path,
    typer.Argument(
        metavar="RUN_DIR|CHECKPOINT",
        help="A run folder or its checkpoint.pt.",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option(help="cpu or cuda. Default: cuda if available.", show_default=False),
]
DedupModelOption = Annotated[
    Path | None,
    typer.Option(
        help="A `relnet dedup fit` checkpoint: the network of the [bold]learned[/bold] remover.",
        show_default=False,
    ),
]


def pick_device(device: str | None) -> str:
    """``--device``, or CUDA when available, else the CPU."""
    if device is not None:
        return resolve_device(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_run(
    run_or_checkpoint: Path, device: str, categories: Any = None
) -> tuple[Path, LoadedDetector]:
    """The checkpoint path and the detector of ``RUN_DIR`` or ``CHECKPOINT``, in eval mode.

    With ``categories`` (a dataset's ``CategoryMap``) the checkpoint must have the same ones.
    """
    checkpoint = find_checkpoint(run_or_checkpoint)
    require_file(checkpoint, "checkpoint")
    from relnet_detector.engine.checkpoint import load_detector

    return checkpoint, load_detector(checkpoint, map_location=device, categories=categories)


def parse_removers(value: str | None, option: str = "--dedup") -> list[str] | None:
    """``"nms,soft-nms"`` as a list of remover names (usage error for an unknown one)."""
    return None if value is None else split_list(value, EVAL_REMOVERS, option)


def check_remover_name(dedup: str | None, allowed: Sequence[str], note: str = "") -> None:
    """Usage error for a ``--dedup`` that is not one of ``allowed`` (None: the model's own)."""
    if dedup is not None and dedup not in allowed:
        raise typer.BadParameter(
            f"unknown {dedup!r}; choose from {', '.join(allowed)}{note}", param_hint="--dedup"
        )


def remover_configs(
    loaded: LoadedDetector, names: Sequence[str], dedup_model: Path | None
) -> dict[str, RemoverConfig]:
    """The model's remover settings with each method of ``names`` in turn.

    ``learned`` takes its network from ``dedup_model``; ``e2e`` is the model's own.
    """
    base = loaded.config.model.remover
    configs = {}
    for name in names:
        changes: dict[str, Any] = {"method": name}
        if name == "learned":
            if dedup_model is None:
                raise CliError(
                    "the learned remover needs --dedup-model MODEL.pt "
                    "(a checkpoint of `relnet dedup fit`)"
                )
            require_file(dedup_model, "--dedup-model")
            changes["checkpoint"] = str(dedup_model)
        configs[name] = dataclasses.replace(base, **changes)
    return configs


def read_picture(path: Path) -> Image.Image:
    """The image file at ``path`` in 8-bit RGB (checked: it exists and decodes)."""
    from ..render.images import read_rgb

    require_file(path, "image")
    return read_rgb(path)


def as_tensor(picture: Image.Image) -> Tensor:
    """An RGB picture as the model's float ``[3, H, W]`` tensor in ``[0, 1]``."""
    from torchvision.transforms.functional import pil_to_tensor

    pixels: Tensor = pil_to_tensor(picture).float() / 255.0  # [3, H, W]
    return pixels


def read_image(path: Path) -> Tensor:
    """The image at ``path`` as a float ``[3, H, W]`` tensor in ``[0, 1]``."""
    return as_tensor(read_picture(path))


def detector(loaded: LoadedDetector) -> RelationDetector:
    """The loaded model as the :class:`RelationDetector` it is."""
    return cast("RelationDetector", loaded.model)
