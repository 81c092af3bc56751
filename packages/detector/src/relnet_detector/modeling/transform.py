"""torchvision's ``GeneralizedRCNNTransform`` with the test-time resize of a trace made exact.

Eager, torchvision resizes by ``scale = min(min_size / short side, max_size / long side)`` in
float64 and takes ``floor(side * scale)``; in a trace (``relnet_detector.export``) it computes the
scale in float32, which can land a side one pixel short (147 px at scale 96/147 gives 95, not
96), and so other detections. Here a trace computes the output size in float64 too and resizes
to it: the same pixels as eager, for every image size.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection.transform import GeneralizedRCNNTransform


class RelationTransform(GeneralizedRCNNTransform):  # type: ignore[misc]
    """``GeneralizedRCNNTransform`` whose eval-mode resize in a trace equals the eager one."""

    def resize(self, image: Tensor, target: dict[str, Any] | None = None) -> Any:
        if self.training or target is not None or not torchvision._is_tracing():
            return super().resize(image, target)
        shape = torch._shape_as_tensor(image)[-2:].to(torch.float64)  # [2]: (H, W)
        # float64 vectors throughout: the ONNX exporter casts 0-dim constants to float32, and a
        # Python number / tensor traces as reciprocal x number (another rounding)
        bounds = torch.tensor(
            [float(self.min_size[-1]), float(self.max_size)], dtype=torch.float64
        )  # [2]: (short side's target, long side's limit)
        sides = torch.stack([shape.min(), shape.max()])  # [2]
        scale = (bounds / sides).min()
        size = torch.floor(shape * scale).to(torch.int64)  # [2], as eager's float64 floor
        resized = F.interpolate(
            image[None],
            size=(size[0], size[1]),  # type: ignore[arg-type]  # traced sizes
            mode="bilinear",
            align_corners=False,
        )
        return resized[0], target
