"""The whole detector as one traced graph: TorchScript or ONNX, as torchvision exports Faster
R-CNN (``torch.jit.trace`` / the TorchScript-based ONNX exporter, opset 17).

:class:`ExportableDetector` takes one image ``[3, H, W]`` (any size: the resizing, the anchors,
the clipping and the boxes' return to the original pixels follow the input's shape) and returns
``boxes [K, 4]``, ``labels [K]``, ``scores [K]`` (any ``K``, 0 included), the detector's eval
output, with the model's remover:

- ``"nms"``: a trace takes torchvision's ``batched_nms`` (ONNX ``NonMaxSuppression``); it keeps
  the same boxes as relnet-dedup's NMS but for ties between equal scores.
- ``"learned"`` / ``"e2e"``: the relation network over every class padded to ``first_n``
  candidates (:func:`relnet_dedup.fixed_groups_learned_nms`), the same
  detections as eager inference, whose buckets of groups a trace would freeze.

Soft-NMS is not exported (a loop over each group's detections).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from relnet_dedup import fixed_groups_learned_nms

from .modeling.model import RelationDetector

__all__ = ["EXPORT_FORMATS", "EXPORT_REMOVERS", "ExportableDetector", "export_detector"]

EXPORT_FORMATS = ("torchscript", "onnx")
EXPORT_REMOVERS = ("nms", "learned", "e2e")
OPSET = 17


class ExportableDetector(nn.Module):
    """``model`` (eval mode, its remover one of :data:`EXPORT_REMOVERS`) with tensor outputs:
    image -> boxes, labels, scores."""

    def __init__(self, model: RelationDetector) -> None:
        super().__init__()
        if model.remover.method not in EXPORT_REMOVERS:
            raise ValueError(
                f"export supports the removers {', '.join(EXPORT_REMOVERS)}, got "
                f"{model.remover.method!r}"
            )
        self.model = model
        # a submodule, so that a trace holds the learned network's weights as parameters
        self.network = model.dedup_network
        self.eval()  # the exporters may set every submodule to the wrapper's mode

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``image`` [3, H, W] float in [0, 1] -> boxes [K, 4], labels [K] int64, scores [K]."""
        remover, network = self.model.remover, self.network
        if network is None:  # NMS
            (out,) = self.model([image])
            return out["boxes"], out["labels"], out["scores"]
        (raw,) = self.model.raw_detections([image])
        keep, final = fixed_groups_learned_nms(
            raw.boxes,
            raw.scores,
            raw.labels,
            network,
            raw.features if network.config.use_appearance else None,
            num_groups=self.model.num_classes + 1,  # labels 1 .. C
            eta=remover.eta,
            score_threshold=remover.score_threshold,
            first_n=remover.first_n,
        )  # [K]
        keep, final = keep[: remover.detections_per_img], final[: remover.detections_per_img]
        return raw.boxes[keep], raw.labels[keep], final


def export_detector(
    model: RelationDetector, example: Tensor, out: str | Path, format: str = "onnx"
) -> Path:
    """Trace ``model`` on ``example`` ([3, H, W], ideally one with detections) and write it.

    The tracer's warnings about values read as Python numbers (the input checks, torchvision's
    sizes: constants of the graph, which the tests show hold for other image sizes and
    detection counts) and the exporters' notes on themselves are silenced."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}")
    wrapper = ExportableDetector(model)
    out = Path(out)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", message="To copy construct from a tensor")  # torchvision
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        # the legacy exporter's notes on itself: the torch.export-based one cannot yet export
        # the relation modules with a dynamic number of objects (as relnet_dedup.export_onnx)
        warnings.simplefilter("ignore", DeprecationWarning)
        if format == "torchscript":
            traced = torch.jit.trace(wrapper, (example,), check_trace=False)  # type: ignore[no-untyped-call]
            traced.save(str(out))
        else:
            torch.onnx.export(
                wrapper,
                (example,),
                str(out),
                opset_version=OPSET,
                dynamo=False,
                input_names=["image"],
                output_names=["boxes", "labels", "scores"],
                dynamic_axes={
                    "image": {1: "height", 2: "width"},
                    "boxes": {0: "detections"},
                    "labels": {0: "detections"},
                    "scores": {0: "detections"},
                },
            )
    return out
