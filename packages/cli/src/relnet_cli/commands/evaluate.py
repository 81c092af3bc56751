"""``relnet eval``: COCO mAP of a trained detector with several duplicate removers (Table 4).

Calls ``relnet_detector.evaluate``: the network runs once per image and every chosen
remover is applied to its raw output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from relnet_core.files import write_json

from ..console import coco_table, per_class_table, stdout
from ..errors import CliError
from ..files import make_dir, require_dir, require_writable_parent
from ..runs import describe_checkpoint, find_checkpoint, trained_on
from ._detector import (
    DedupModelOption,
    DeviceOption,
    RunArgument,
    detector,
    load_run,
    parse_removers,
    pick_device,
    remover_configs,
)

if TYPE_CHECKING:
    from relnet_detector.engine.checkpoint import LoadedDetector


def evaluate(
    checkpoint: RunArgument,
    data: Annotated[
        Path | None,
        typer.Option(
            help="A COCO folder. Default: the data the run was trained on (its run.json), "
            "else the built-in benchmark.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="The split: annotations/instances_SPLIT.json.")
    ] = "val",
    dedup: Annotated[
        str | None,
        typer.Option(
            help="Removers, comma-separated: nms, soft-nms, learned, e2e, oracle (the best any "
            "remover keeping the scores could do, from the ground truth). Default: nms, "
            "soft-nms, e2e if the model has it, learned if --dedup-model is given, oracle.",
            show_default=False,
        ),
    ] = None,
    dedup_model: DedupModelOption = None,
    which: Annotated[
        str,
        typer.Option(
            "--checkpoint",
            help="Of a run folder: last (checkpoint.pt) or best (best.pt, the epoch of the best "
            "val mAP, named in run.json).",
        ),
    ] = "last",
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Write per remover precision-recall curves per category at IoU 0.5 "
            "(pr_NAME.png) and the confusion matrix at IoU 0.5, score 0.5 (confusion_NAME.png) "
            "into this folder.",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the numbers (COCOeval's 12 per remover, times) to this JSON file, and "
            "each remover's COCO results file (detections_NAME.json) beside it.",
            show_default=False,
        ),
    ] = None,
    device: DeviceOption = None,
) -> None:
    """Evaluate a trained detector on a COCO folder with NMS, Soft-NMS and the learned
    removers: one rich table of COCOeval numbers and per-image times, then AP,
    AP50 and AP75 per category (the dataset's ids and names).

    The network runs once per image; every remover is applied to the same raw
    detections, so the rows differ only in duplicate removal. The oracle keeps
    per ground truth the detection that matches it best: its distance to a
    remover is what that remover could still win. Crowd AP is COCOeval on the
    images with a crowd (a ground truth at IoU >= 0.4 with another of its
    class); crowd R@.5 / R@.75 the recall of those crowd members. Network and
    removal times are milliseconds per image.

    [bold]Example:[/bold]

        relnet eval runs/tiny
        relnet eval runs/tiny --dedup nms,soft-nms,e2e --json runs/tiny/eval.json
        relnet eval runs/tiny --checkpoint best
        relnet eval runs/r50/checkpoint.pt --data data/coco --device cuda
    """
    names = parse_removers(dedup)
    if json_path is not None:
        require_writable_parent(json_path, "--json")
    if plots is not None:
        make_dir(plots, "--plots")
    checkpoint_file = find_checkpoint(checkpoint, which)
    stdout().print(f"checkpoint {checkpoint_file}: {describe_checkpoint(checkpoint_file)}")
    folder = _data_folder(data, checkpoint_file)
    from relnet_detector.datasets.coco import CocoFolder

    dataset = CocoFolder(folder, split)
    run_device = pick_device(device)
    _, loaded = load_run(checkpoint_file, run_device, categories=dataset.categories)
    if names is None:
        names = _default_removers(loaded, dedup_model)
    removers = list(remover_configs(loaded, names, dedup_model).values())
    from relnet_detector.evaluation.evaluate import evaluate as evaluate_detector

    result = evaluate_detector(
        detector(loaded),
        dataset,
        removers,
        device=run_device,
        out_dir=json_path.parent if json_path is not None else plots,
        progress=True,
    )
    from relnet_detector.evaluation.metrics import STAT_NAMES

    rows = [(r.name, [r.stats[s] for s in STAT_NAMES]) for r in result.rows]
    timings = [(r.network_ms, r.removal_ms) for r in result.rows]
    crowd = [
        [r.crowd[k] for k in ("crowd_AP", "crowd_recall50", "crowd_recall75")] for r in result.rows
    ]
    skipped = f", {result.skipped} undecodable skipped" if result.skipped else ""
    title = f"COCOeval on {folder} ({split}: {result.images} images{skipped})"
    stdout().print(coco_table(title, rows, timings, crowd))
    categories = list(zip(dataset.categories.dataset_ids, dataset.categories.names, strict=True))
    per_class = [
        (r.name, (r.per_category, r.per_category50, r.per_category75)) for r in result.rows
    ]
    stdout().print(per_class_table("AP per category", categories, per_class))
    if plots is not None:
        _plot(dataset, result, plots, dict(categories))
    if json_path is not None:
        report = {
            "checkpoint": str(checkpoint_file),
            "data": str(folder),
            "split": split,
            "categories": {str(c): name for c, name in categories},
            **result.to_dict(),
        }
        write_json(json_path, report, indent=2)
        stdout().print(f"wrote {json_path} and the COCO results files beside it")


def _plot(dataset: Any, result: Any, folder: Path, names: dict[int, str]) -> None:
    """Each remover's precision-recall curves and confusion matrix as PNGs in ``folder``."""
    import json

    from relnet_detector.evaluation import confusion_matrix, precision_recall, run_cocoeval

    from ..render.analysis import draw_confusion, draw_precision_recall

    image_ids = sorted(dataset.coco.getImgIds())
    for row in result.rows:
        results = json.loads(row.results_file.read_text())
        evaluator = run_cocoeval(dataset.coco, results, image_ids)
        if evaluator is not None:
            title = f"{row.name}: precision against recall at IoU 0.5"
            curves = precision_recall(evaluator, iou=0.5)
            draw_precision_recall(curves, names, title, folder / f"pr_{row.name}.png")
        matrix = confusion_matrix(dataset.coco, results, image_ids)
        labels = [names.get(c, str(c)) for c in matrix.category_ids]
        title = f"{row.name}: confusion at IoU 0.5, score >= 0.5"
        draw_confusion(matrix.counts, labels, title, folder / f"confusion_{row.name}.png")
    stdout().print(f"wrote the curves and confusion matrices into {folder}")


def _data_folder(data: Path | None, checkpoint: Path) -> Path:
    """``--data``, else the run's training data (run.json), else the built-in benchmark."""
    if data is not None:
        return require_dir(data, "--data")
    recorded = trained_on(checkpoint)
    if recorded is not None:
        if not recorded.is_dir():
            raise CliError(
                f"the run was trained on {recorded} (its run.json), which no longer exists; "
                "pass --data DIR"
            )
        return recorded
    from relnet_detector.datasets.synthetic import ensure_synthetic

    return ensure_synthetic(progress=True)


def _default_removers(loaded: LoadedDetector, dedup_model: Path | None) -> list[str]:
    names = ["nms", "soft-nms"]
    if dedup_model is not None:
        names.append("learned")
    if loaded.config.model.remover.method == "e2e":
        names.append("e2e")
    return [*names, "oracle"]
