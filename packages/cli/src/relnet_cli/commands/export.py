"""``relnet export``: the whole detector (backbone, RPN, box head, duplicate remover) as one
TorchScript or ONNX file (``relnet_detector.export``), traced on a user's image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import stdout
from ..errors import CliError
from ..files import require_writable_parent
from ._detector import (
    DedupModelOption,
    RunArgument,
    check_remover_name,
    detector,
    load_run,
    read_image,
    remover_configs,
)

FORMATS = ("onnx", "torchscript")
REMOVERS = ("nms", "learned", "e2e")  # relnet_detector.export.EXPORT_REMOVERS, without torch


def export(
    checkpoint: RunArgument,
    image: Annotated[
        Path,
        typer.Option(
            help="The image to trace on: one the model detects something in (a trace follows "
            "the code path of its example).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="The file to write.", show_default=False)],
    format: Annotated[str, typer.Option(help="onnx or torchscript.")] = "onnx",
    dedup: Annotated[
        str | None,
        typer.Option(
            help="The duplicate remover: nms, learned or e2e. "
            "Default: the one the model was trained with.",
            show_default=False,
        ),
    ] = None,
    dedup_model: DedupModelOption = None,
) -> None:
    """Export the detector with its duplicate remover: image [3, H, W] float in [0, 1] ->
    boxes [K, 4] (its pixels), labels [K], scores [K]. The image size and K are dynamic.

    [bold]Example:[/bold]

        relnet export runs/tiny --image val.png --out tiny.onnx
        relnet export runs/tiny --image val.png --dedup nms --format torchscript --out tiny.pt
    """
    if format not in FORMATS:
        raise CliError(f"--format {format!r}: one of {', '.join(FORMATS)}")
    check_remover_name(dedup, REMOVERS, " (Soft-NMS is not exported)")
    require_writable_parent(out, "--out")
    if format == "onnx":
        try:
            import onnx  # noqa: F401  (torch.onnx.export writes through it)
        except ImportError:
            raise CliError(
                'ONNX export needs the onnx package: pip install "relnet-detector[export]"'
            ) from None
    pixels = read_image(image)
    _, loaded = load_run(checkpoint, "cpu")
    model = detector(loaded)
    remover = dedup or model.remover.method
    if remover not in REMOVERS:
        raise CliError(
            f"the model's remover {remover!r} is not exported: choose --dedup "
            f"{' or '.join(REMOVERS)}"
        )
    model.set_remover(remover_configs(loaded, [remover], dedup_model)[remover])
    import torch

    from relnet_core.files import atomic_path
    from relnet_detector.export import export_detector

    with torch.no_grad():
        (found,) = model([pixels])
    if len(found["scores"]) == 0:
        raise CliError(f"the model detects nothing in {image}: trace on an image with detections")
    with atomic_path(out) as tmp:
        export_detector(model, pixels, tmp, format)
    stdout().print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {format}): traced on {image} "
        f"({len(found['scores'])} detections), remover {remover}"
    )
