"""The relation viewer of ``relnet explain --html``: one static HTML page (``viewer.html``) with
the images and, per detection, the RoIs it attends to most in every relation module, for each
relation and for their sum (the paper's Fig. 4, explored by clicking)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image

from relnet_core.files import atomic_path

PLACEHOLDER = "/*RELNET_DATA*/"
DISPLAY_SIDE = 640  # the page shows each image at least this wide (small images enlarged)


def image_data(
    found: Any, image: Image.Image, name: str, names: Sequence[str], top: int, min_score: float
) -> dict[str, Any]:
    """One image of the page: the picture (a JPEG data URI), its detections with a score of at
    least ``min_score`` (highest first, so detection ``k`` of the page is detection ``k`` of
    ``found``) and their ``top`` related RoIs.

    Args:
        found: ``relnet_detector.modeling.explain.relation_weights``' result for ``image``.
        image: the image in its original size (the detections' pixels).
        name: its caption (the file name).
        names: the class names in label order.
        top: related RoIs per detection, module and relation.
        min_score: the lowest score of a detection the page draws.

    Returns:
        ``{"name", "src", "width", "height", "display_width", "detections": [{"box", "label",
        "score", "roi", "related": [module][0 = sum, 1 + r = relation r] -> [[roi, weight]]}],
        "rois": {roi: {"box", "label"}}}``, JSON-ready.
    """
    from relnet_detector.modeling.explain import top_related

    scores = found.detections["scores"].tolist()
    shown = sum(1 for s in scores if s >= min_score)
    detections: list[dict[str, Any]] = []
    rois: dict[int, Any] = {}
    for k in range(shown):
        related = []
        for m, weights in enumerate(found.weights):
            choices = [None, *range(weights.shape[0])]  # the sum, then each relation
            per_choice = []
            for relation in choices:
                index, weight = top_related(found, k, m, relation, top)
                per_choice.append([[int(i), float(w)] for i, w in zip(index, weight, strict=True)])
                rois.update({int(i): None for i in index})
            related.append(per_choice)
        detections.append(
            {
                "box": [round(float(v), 2) for v in found.detections["boxes"][k]],
                "label": names[int(found.detections["labels"][k]) - 1],
                "score": float(scores[k]),
                "roi": int(found.roi_index[k]),
                "related": related,
            }
        )
    for roi in rois:
        rois[roi] = {
            "box": [round(float(v), 2) for v in found.roi_boxes[roi]],
            "label": names[int(found.roi_labels[roi]) - 1],
        }
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=88)
    src = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return {
        "name": name,
        "src": src,
        "width": image.width,
        "height": image.height,
        "display_width": max(image.width, DISPLAY_SIDE),
        "detections": detections,
        "rois": {str(roi): box for roi, box in sorted(rois.items())},
    }


def write_viewer(
    images: Sequence[dict[str, Any]], modules: Sequence[str], relations: Sequence[int], out: Path
) -> Path:
    """Write the page of ``images`` (:func:`image_data`) to ``out``, atomically.

    Args:
        images: one :func:`image_data` per image.
        modules: the relation modules' names (``RelationWeights.modules``).
        relations: each module's ``N_r``.
        out: the HTML file.
    """
    data = {
        "modules": [{"name": n, "relations": r} for n, r in zip(modules, relations, strict=True)],
        "images": list(images),
    }
    # "</" closes the script element whatever its type: JSON allows "<\/" for it
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    template = resources.files("relnet_cli.render").joinpath("viewer.html").read_text("utf-8")
    page = template.replace(PLACEHOLDER, text)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
