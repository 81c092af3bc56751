"""``relnet dedup fit|apply``: the learned duplicate remover (paper §4.3) for any detector.

COCO-format raw (pre-NMS) detections in, a relnet-dedup checkpoint or cleaned detections out. Only
``relnet_dedup`` is imported here (never the detector), so these work with the dedup package alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from relnet_core.files import write_json

from ..console import coco_table, stderr, stdout
from ..errors import CliError
from ..files import require_file, require_writable_parent
from ..options import resolve_device

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import Tensor

    from relnet_dedup import DuplicateRemovalNetwork, ImageDetections

    Remover = Callable[[ImageDetections], tuple[Tensor, Tensor]]

app = typer.Typer(
    rich_markup_mode="rich",
    no_args_is_help=True,
    help="Learned duplicate removal (NMS replacement) for any detector's COCO-format output.",
)

RawOption = Annotated[
    Path,
    typer.Option(
        "--detections",
        help="Raw (pre-NMS) detections: a COCO results JSON "
        "([{image_id, category_id, bbox: [x, y, w, h], score}, ...]).",
        show_default=False,
    ),
]


@app.command("fit")
def fit(
    detections: RawOption,
    annotations: Annotated[
        Path,
        typer.Option(help="The ground truth: a COCO instances JSON.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Checkpoint to write (atomically, after every epoch).", show_default=False
        ),
    ],
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training data.")] = 10,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (Adam, cosine).")] = 3e-3,
    batch_size: Annotated[int, typer.Option(min=1, help="(image, class) groups per step.")] = 16,
    seed: Annotated[int, typer.Option(help="Same seed, same weights.")] = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from the checkpoint at --out.")
    ] = False,
    device: Annotated[str, typer.Option(help="Where to train: cpu or cuda.")] = "cpu",
) -> None:
    """Train the learned duplicate remover on a detector's raw output and the ground truth.

    The detections are any detector's output before NMS, in the COCO results
    format; every image of the ground truth takes part. The checkpoint is
    written after every epoch; [bold]--resume[/bold] continues an interrupted
    run from it.

    [bold]Example:[/bold]

        relnet dedup fit --out dedup.pt --epochs 10 \\
            --detections raw.json --annotations instances_val.json
    """
    require_file(detections, "detections file")
    require_file(annotations, "annotations file")
    require_writable_parent(out, "checkpoint")
    device = resolve_device(device)
    from relnet_dedup import fit_coco

    result = fit_coco(
        detections,
        annotations,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        checkpoint=out,
        resume=resume,
        device=device,
        verbose=True,
    )
    last = result.history[-1] if result.history else None
    loss = f", final loss {last.loss:.5f}" if last is not None else ""
    epochs_done = len(result.history)
    stdout().print(f"wrote {out} ({epochs_done} epoch{'' if epochs_done == 1 else 's'}{loss})")


@app.command("apply")
def apply(
    model_path: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL.pt", help="A checkpoint of `relnet dedup fit`.", show_default=False
        ),
    ],
    detections: RawOption,
    out: Annotated[
        Path,
        typer.Option(help="Cleaned detections to write (COCO results JSON).", show_default=False),
    ],
    annotations: Annotated[
        Path | None,
        typer.Option(
            help="Ground truth (COCO instances JSON): also print NMS, Soft-NMS and learned mAP.",
            show_default=False,
        ),
    ] = None,
    eta: Annotated[
        float | None,
        typer.Option(help="Score with one trained IoU threshold (default: the mean over all)."),
    ] = None,
    score_threshold: Annotated[
        float, typer.Option(help="Only detections with a higher score enter any remover.")
    ] = 0.01,
    first_n: Annotated[
        int, typer.Option(min=1, help="The learned remover sees at most this many per class.")
    ] = 100,
    nms_threshold: Annotated[float, typer.Option(help="IoU threshold of the NMS row.")] = 0.5,
    sigma: Annotated[float, typer.Option(help="Gaussian sigma of the Soft-NMS row.")] = 0.5,
) -> None:
    """Remove duplicates from raw detections with a trained remover; compare with NMS given GT.

    Writes the kept detections with their new scores (at most 100 per image,
    COCO results format). With [bold]--annotations[/bold] it also prints
    COCOeval's mAP of NMS, Soft-NMS and the learned remover on the same
    detections.

    [bold]Example:[/bold]

        relnet dedup apply dedup.pt --detections raw.json --out clean.json
        relnet dedup apply dedup.pt --detections raw.json --out clean.json \\
            --annotations instances_val.json
    """
    require_file(model_path, "checkpoint")
    require_file(detections, "detections file")
    if annotations is not None:
        require_file(annotations, "annotations file")
    require_writable_parent(out, "output")
    from relnet_dedup import coco_results, evaluate_coco, load_checkpoint, load_coco_detections

    model = load_checkpoint(model_path, map_location="cpu")
    gt: Any = annotations if annotations is not None else _image_list(detections)
    images = load_coco_detections(detections, gt)
    learned = _learned(model, eta, score_threshold, first_n)
    with stderr().status(f"removing duplicates in {len(images)} images"):
        results = coco_results(images, learned)
    write_json(out, results)
    stdout().print(f"wrote {out} ({len(results)} detections, {len(images)} images)")
    if annotations is None:
        return
    rows = [
        (f"NMS (IoU {nms_threshold:g})", _nms(nms_threshold, score_threshold)),
        (f"Soft-NMS (sigma {sigma:g})", _soft_nms(sigma, score_threshold)),
        ("learned" if eta is None else f"learned (eta {eta:g})", learned),
    ]
    stats = []
    with stderr().status("evaluating"):
        for name, remover in rows:
            found = results if remover is learned else coco_results(images, remover)
            stats.append((name, evaluate_coco(annotations, found)))
    stdout().print(coco_table(f"COCOeval of {detections.name}", stats))


def _image_list(detections: Path) -> dict[str, Any]:
    """A ground truth with no annotations, naming the images of ``detections``."""
    try:
        records = json.loads(detections.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CliError(f"detections file {detections} is not JSON ({err})") from None
    if not isinstance(records, list):
        raise CliError(
            f"detections file {detections} must hold a list of detections, "
            f"got {type(records).__name__}"
        )
    ids = sorted({r["image_id"] for r in records if isinstance(r, dict) and "image_id" in r})
    return {"images": [{"id": i} for i in ids], "annotations": [], "categories": []}


def _learned(
    model: DuplicateRemovalNetwork, eta: float | None, score_threshold: float, first_n: int
) -> Remover:
    from relnet_dedup import learned_batched_nms

    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        return learned_batched_nms(
            image.boxes,
            image.scores,
            image.labels,
            model,
            eta=eta,
            score_threshold=score_threshold,
            first_n=first_n,
        )

    return run


def _nms(iou: float, score_threshold: float) -> Remover:
    import torch

    from relnet_dedup import batched_nms

    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        cand = torch.nonzero(image.scores > score_threshold).flatten()  # [C]
        keep = batched_nms(image.boxes[cand], image.scores[cand], image.labels[cand], iou)
        return cand[keep], image.scores[cand[keep]]

    return run


def _soft_nms(sigma: float, score_threshold: float) -> Remover:
    import torch

    from relnet_dedup import batched_soft_nms

    def run(image: ImageDetections) -> tuple[Tensor, Tensor]:
        cand = torch.nonzero(image.scores > score_threshold).flatten()  # [C]
        keep, scores = batched_soft_nms(
            image.boxes[cand], image.scores[cand], image.labels[cand], sigma=sigma
        )
        return cand[keep], scores

    return run
