"""``relnet explain``: the paper's Fig. 4 — which objects a detection attends to.

For a reference object (a detection of the image) and each relation module of the box head, the
objects whose RoIs have the highest relation weights ``w^{mn}`` (Eq. 3) to the reference's RoI,
summed over the module's relations or for one relation, drawn with their weights. The weights come
from ``relnet_detector.modeling.explain.relation_weights``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..console import stdout
from ..errors import CliError
from ..files import require_writable_parent
from ._detector import DeviceOption, detector, load_run, pick_device, read_image

if TYPE_CHECKING:
    from torch import Tensor

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
    image: Annotated[
        Path, typer.Argument(metavar="IMAGE", help="An image file.", show_default=False)
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
    """
    png = out if out is not None else Path(f"{image.stem}-explain.png")
    require_writable_parent(png, "--out")
    pixels = read_image(image)
    run_device = pick_device(device)
    _, loaded = load_run(checkpoint, run_device)
    try:
        from relnet_detector.modeling.explain import relation_weights
    except ImportError:
        raise CliError(
            "relnet explain needs relnet_detector.modeling.explain.relation_weights, which the "
            "installed relnet-detector does not have"
        ) from None
    import torch

    with torch.inference_mode():
        found = relation_weights(detector(loaded), pixels.to(run_device))
    names = loaded.categories.names
    panels = relation_panels(found, object_, module, relation, top, names)
    reference = int(found.roi_index[object_])
    label = int(found.detections["labels"][object_])
    score = float(found.detections["scores"][object_])
    from ..render.boxes import draw_relations
    from ..render.images import read_rgb

    draw_relations(
        read_rgb(image),
        found.detections["boxes"][object_].cpu(),
        f"{names[label - 1]} {score:.2f}",
        panels,
        png,
    )
    stdout().print(
        f"wrote {png}: detection {object_} ({names[label - 1]}, score {score:.2f}, RoI "
        f"{reference}) and its top {top} related objects in {len(panels)} relation module(s)"
    )


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
    reference = int(found.roi_index[object_])
    panels = []
    for m in modules:
        weights: Tensor = found.weights[m][:, reference, :]  # [N_r, N]
        if relation is not None and relation >= weights.shape[0]:
            raise CliError(
                f"--relation {relation}: module {m} has {weights.shape[0]} relations "
                f"(0 to {weights.shape[0] - 1})"
            )
        row = weights[relation] if relation is not None else weights.sum(0)  # [N]
        row = row.clone()
        row[reference] = float("-inf")  # the reference itself is not a related object
        k = min(top, row.numel() - 1)
        best = row.topk(k).indices  # [k]
        which = f"relation {relation}" if relation is not None else "all relations"
        panels.append(
            RelationPanel(
                title=f"{found.modules[m]}, {which}",
                boxes=found.roi_boxes[best].cpu(),
                names=[names[int(label) - 1] for label in found.roi_labels[best].tolist()],
                weights=row[best].tolist(),
            )
        )
    return panels
