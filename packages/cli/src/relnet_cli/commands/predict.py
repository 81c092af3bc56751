"""``relnet predict``: detections of a trained detector on image files, as COCO results and PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from relnet_core.files import write_json

from ..console import progress_bar, stdout
from ..errors import CliError
from ..files import make_dir
from ._detector import (
    REMOVERS,
    DedupModelOption,
    DeviceOption,
    RunArgument,
    check_remover_name,
    detector,
    load_run,
    pick_device,
    read_image,
    remover_configs,
)


def predict(
    checkpoint: RunArgument,
    images: Annotated[
        list[Path],
        typer.Argument(
            metavar="IMAGE...", help="Image files (PNG, JPEG, ...).", show_default=False
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Folder for detections.json and one PNG per image.", show_default=False),
    ],
    dedup: Annotated[
        str | None,
        typer.Option(
            help="The duplicate remover: nms, soft-nms, learned or e2e. "
            "Default: the one the model was trained with.",
            show_default=False,
        ),
    ] = None,
    dedup_model: DedupModelOption = None,
    score_threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Keep (write and draw) detections scoring above it."),
    ] = 0.5,
    device: DeviceOption = None,
) -> None:
    """Detect objects in images: a COCO results JSON (the training dataset's category ids) and
    one PNG per image with boxes, class names and scores.

    [bold]--out[/bold] gets detections.json (image_id is the image's position
    on the command line, from 1; file_name its path) and IMAGE.png per image.

    [bold]Example:[/bold]

        relnet predict runs/tiny a.png b.png --out predictions
        relnet predict runs/tiny/checkpoint.pt a.png --out p --dedup nms
    """
    check_remover_name(dedup, REMOVERS)
    for image in images:
        if not image.is_file():
            raise CliError(f"image {image} does not exist or is not a file")
    run_device = pick_device(device)
    path, loaded = load_run(checkpoint, run_device)
    model, categories = detector(loaded), loaded.categories
    if dedup is not None:
        model.set_remover(remover_configs(loaded, [dedup], dedup_model)[dedup])
    folder = make_dir(out, "--out")

    import torch

    from relnet_detector.evaluation import coco_detections

    from ..render.boxes import draw_detections
    from ..render.images import read_rgb

    results: list[dict[str, Any]] = []
    pictures = _picture_names(images)
    with progress_bar("img") as progress, torch.inference_mode():
        task = progress.add_task("predicting", total=len(images))
        for image_id, (image, picture) in enumerate(zip(images, pictures, strict=True), start=1):
            pixels = read_image(image).to(run_device)
            (found,) = model([pixels])
            keep = found["scores"] > score_threshold  # [K]
            boxes, scores = found["boxes"][keep].cpu(), found["scores"][keep].cpu()
            labels = found["labels"][keep].cpu().tolist()
            names = [categories.names[label - 1] for label in labels]
            kept = {"boxes": boxes, "scores": scores, "labels": found["labels"][keep].cpu()}
            for result in coco_detections(image_id, kept, categories.category_id):
                results.append({**result, "file_name": str(image)})
            draw_detections(
                read_rgb(image), boxes, labels, names, scores.tolist(), folder / picture
            )
            progress.advance(task)
    write_json(folder / "detections.json", results)
    remover = model.remover.method
    stdout().print(
        f"{len(results)} detections (remover {remover}, score > {score_threshold:g}) in "
        f"{len(images)} images: {folder / 'detections.json'} and {len(images)} PNGs in {folder}"
        f" (model {path})"
    )


def _picture_names(images: list[Path]) -> list[str]:
    """``STEM.png`` per image; ``STEM-2.png`` ... where stems repeat."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for image in images:
        stem = image.stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png")
    return names
