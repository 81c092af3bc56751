"""``relnet explain``: the paper's Fig. 4 — which objects a detection attends to.

For a reference object (a detection of the image) and each relation module of the box head, the
objects whose RoIs have the highest relation weights ``w^{mn}`` (Eq. 3) to the reference's RoI,
summed over the module's relations or for one relation, drawn with their weights (a PNG), or,
with ``--html``, one page where a click on any detection of one or more images shows them
(:mod:`relnet_cli.render.viewer`). The weights come from
``relnet_detector.modeling.explain.relation_weights`` and ``top_related``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..console import stdout
from ..errors import CliError
from ..files import require_writable_parent
from ._detector import DeviceOption, as_tensor, detector, load_run, pick_device, read_picture

if TYPE_CHECKING:
    from ..render.boxes import RelationPanel


def explain(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR|CHECKPOINT",
            help="A run folder or its checkpoint.pt (a model with relation modules).",
            show_default=False,
        ),
    ],
    images: Annotated[
        list[Path],
        typer.Argument(
            metavar="IMAGE...",
            help="Image files: one for the PNG, any number for --html.",
            show_default=False,
        ),
    ],
    object_: Annotated[
        int,
        typer.Option(
            "--object", min=0, help="The reference object: detection K, by score (0: the top)."
        ),
    ] = 0,
    module: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Only relation module N (0: the first). Default: every module.",
            show_default=False,
        ),
    ] = None,
    relation: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Only relation R of each module. Default: the sum over relations.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Related objects to draw per module.")] = 5,
    out: Annotated[
        Path | None,
        typer.Option(help="The PNG to write. Default: IMAGE-explain.png here.", show_default=False),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            help="Write the relation viewer instead: one self-contained HTML page of every "
            "IMAGE where clicking a detection shows the objects it attends to, per module and "
            "relation.",
            show_default=False,
        ),
    ] = None,
    min_score: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="--html: the lowest score of a detection it shows."),
    ] = 0.3,
    device: DeviceOption = None,
) -> None:
    """Draw a detection (blue) and the objects with the highest relation weights to it (red,
    labelled with their weights), one panel per relation module: the paper's
    Fig. 4.

    The weights are those of Eq. 3 from the reference object's RoI to every
    other RoI; each related RoI is drawn as its best detection box with its
    class.

    [bold]Example:[/bold]

        relnet explain runs/tiny street.png --out fig4.png
        relnet explain runs/tiny street.png --object 2 --module 1 --relation 7
        relnet explain runs/tiny a.png b.png c.png --html relations.html
    """
    if html is not None:
        if out is not None:
            raise CliError("--out writes the PNG of one image, --html the page: give one")
        explain_html(checkpoint, images, html, top, min_score, device)
        return
    if len(images) != 1:
        raise CliError(
            f"the PNG explains one image, got {len(images)}: give one, or --html for a page of all"
        )
    image = images[0]
    png = out if out is not None else Path(f"{image.stem}-explain.png")
    require_writable_parent(png, "--out")
    picture = read_picture(image)
    run_device = pick_device(device)
    _, loaded = load_run(checkpoint, run_device)
    found = _relation_weights(loaded, as_tensor(picture).to(run_device))
    names = loaded.categories.names
    panels = relation_panels(found, object_, module, relation, top, names)
    reference = int(found.roi_index[object_])
    label = int(found.detections["labels"][object_])
    score = float(found.detections["scores"][object_])
    from ..render.boxes import draw_relations

    draw_relations(
        picture,
        found.detections["boxes"][object_].cpu(),
        f"{names[label - 1]} {score:.2f}",
        panels,
        png,
    )
    stdout().print(
        f"wrote {png}: detection {object_} ({names[label - 1]}, score {score:.2f}, RoI "
        f"{reference}) and its top {top} related objects in {len(panels)} relation module(s)"
    )


def explain_html(
    checkpoint: Path,
    images: list[Path],
    html: Path,
    top: int,
    min_score: float,
    device: str | None,
) -> None:
    """``relnet explain --html``: the relation viewer of ``images`` written to ``html``."""
    require_writable_parent(html, "--html")
    pictures = [read_picture(image) for image in images]  # every file checked before the model
    run_device = pick_device(device)
    _, loaded = load_run(checkpoint, run_device)
    from ..render.viewer import image_data, write_viewer

    names = loaded.categories.names
    pages, found = [], None
    for image, picture in zip(images, pictures, strict=True):
        found = _relation_weights(loaded, as_tensor(picture).to(run_device))
        if not found.weights:
            raise CliError(
                "this model's box head has no relation module (a 2fc head?): nothing to explain"
            )
        pages.append(image_data(found, picture, image.name, names, top, min_score))
    assert found is not None  # typer requires at least one IMAGE
    relations = [int(w.shape[0]) for w in found.weights]
    write_viewer(pages, found.modules, relations, html)
    shown = sum(len(p["detections"]) for p in pages)
    stdout().print(
        f"wrote {html} ({html.stat().st_size / 1e3:.0f} kB): {len(pages)} image(s), {shown} "
        f"detection(s) with score >= {min_score:g}, top {top} related objects in "
        f"{len(relations)} relation module(s)"
    )


def _relation_weights(loaded: Any, pixels: Any) -> Any:
    """``relation_weights`` of the loaded run's detector on one image tensor."""
    try:
        from relnet_detector.modeling.explain import relation_weights
    except ImportError:
        raise CliError(
            "relnet explain needs relnet_detector.modeling.explain.relation_weights, which the "
            "installed relnet-detector does not have"
        ) from None
    import torch

    with torch.inference_mode():
        return relation_weights(detector(loaded), pixels)


def relation_panels(
    found: Any,
    object_: int,
    module: int | None,
    relation: int | None,
    top: int,
    names: tuple[str, ...],
) -> list[RelationPanel]:
    """One panel per chosen module: the ``top`` RoIs with the highest weight from the reference.

    Args:
        found: ``relation_weights``' result: ``detections`` (``boxes``, ``labels``, ``scores``
            sorted by score), ``roi_index [K]``, ``roi_boxes [N, 4]``, ``roi_labels [N]``,
            ``weights`` (per module ``Tensor[N_r, N, N]``, row = query) and ``modules``.
        object_, module, relation, top: the command's options.
        names: the class names in label order.
    """
    from ..render.boxes import RelationPanel

    count = len(found.detections["scores"])
    if count == 0:
        raise CliError("the model detects nothing in this image: no reference object to explain")
    if object_ >= count:
        raise CliError(f"--object {object_}: the image has {count} detections (0 to {count - 1})")
    modules = list(range(len(found.weights)))
    if not modules:
        raise CliError(
            "this model's box head has no relation module (a 2fc head?): nothing to explain"
        )
    if module is not None:
        if module >= len(modules):
            raise CliError(
                f"--module {module}: the head has {len(modules)} relation modules "
                f"(0 to {len(modules) - 1})"
            )
        modules = [module]
    from relnet_detector.modeling.explain import top_related

    panels = []
    for m in modules:
        relations = found.weights[m].shape[0]
        if relation is not None and relation >= relations:
            raise CliError(
                f"--relation {relation}: module {m} has {relations} relations "
                f"(0 to {relations - 1})"
            )
        best, weights = top_related(found, object_, m, relation, top)  # [k], [k]
        which = f"relation {relation}" if relation is not None else "all relations"
        panels.append(
            RelationPanel(
                title=f"{found.modules[m]}, {which}",
                boxes=found.roi_boxes[best].cpu(),
                names=[names[int(label) - 1] for label in found.roi_labels[best].tolist()],
                weights=weights.tolist(),
            )
        )
    return panels
