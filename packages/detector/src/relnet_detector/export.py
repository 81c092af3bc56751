"""The whole detector as one traced graph: TorchScript or ONNX, as torchvision exports Faster
R-CNN (``torch.jit.trace`` / the TorchScript-based ONNX exporter, opset 17).

:class:`ExportableDetector` takes one image ``[3, H, W]`` (any size: the resizing, the anchors,
the clipping and the boxes' return to the original pixels follow the input's shape) and returns
``boxes [K, 4]``, ``labels [K]``, ``scores [K]`` (any ``K``, 0 included), the detector's eval
output. The NMS of a trace is torchvision's ``batched_nms`` (ONNX ``NonMaxSuppression``); it keeps
the same boxes as relnet-dedup's NMS but for ties between equal scores.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from .modeling.model import RelationDetector

__all__ = ["EXPORT_FORMATS", "ExportableDetector", "export_detector"]

EXPORT_FORMATS = ("torchscript", "onnx")
OPSET = 17


class ExportableDetector(nn.Module):
    """``model`` (eval mode, NMS remover) with tensor outputs: image -> boxes, labels, scores."""

    def __init__(self, model: RelationDetector) -> None:
        super().__init__()
        if model.remover.method != "nms":
            raise ValueError(
                f"export supports the remover 'nms', got {model.remover.method!r}: the learned "
                "remover is not exportable yet"
            )
        self.model = model
        self.eval()  # the exporters may set every submodule to the wrapper's mode

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``image`` [3, H, W] float in [0, 1] -> boxes [K, 4], labels [K] int64, scores [K]."""
        (out,) = self.model([image])
        return out["boxes"], out["labels"], out["scores"]


def export_detector(
    model: RelationDetector, example: Tensor, out: str | Path, format: str = "onnx"
) -> Path:
    """Trace ``model`` on ``example`` ([3, H, W], ideally one with detections) and write it."""
    wrapper = ExportableDetector(model)
    out = Path(out)
    with torch.no_grad():
        if format == "torchscript":
            traced = torch.jit.trace(wrapper, (example,), check_trace=False)  # type: ignore[no-untyped-call]
            traced.save(str(out))
        elif format == "onnx":
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
        else:
            raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}")
    return out
