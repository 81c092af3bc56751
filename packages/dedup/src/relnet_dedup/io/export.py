"""ONNX export of the duplicate removal network (paper §4.3) for deployment.

The exported graph is :meth:`DuplicateRemovalNetwork.forward` on padded groups: inputs ``boxes
[G, N, 4]``, ``scores [G, N]``, ``valid [G, N]`` (bool) and, for a network with appearance,
``features [G, N, feat_dim]``; output ``logits [G, N, T]``. ``G`` and ``N`` are dynamic, zero
included: inside the graph one padding group and one padding slot (never valid, so never a key)
are appended and cut from the output again, so no operator ever sees an empty dimension. ``boxes``
is an input whatever the geometry (with ``geometry="none"`` only its shape is used). Needs the
optional ``export`` extra (``pip install "relnet-dedup[export]"``: onnx, and onnxruntime to run
the file).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from relnet_core.checks import check_int
from relnet_core.files import atomic_write, check_writable

from ..network.module import DuplicateRemovalNetwork, check_model


def export_onnx(
    model: DuplicateRemovalNetwork,
    path: str | os.PathLike[str],
    *,
    example_groups: int = 2,
    example_size: int = 8,
    opset: int = 18,
) -> Path:
    """Write ``model`` as an ONNX file with dynamic group count ``G`` and group size ``N``.

    Args:
        model (DuplicateRemovalNetwork): the network; exported in eval mode, on the CPU.
        path (str | PathLike): the ``.onnx`` file to write (atomically; its mode follows the
            umask).
        example_groups (int): ``G`` of the example input used for tracing.
        example_size (int): ``N`` of the example input used for tracing.
        opset (int): the ONNX opset version.

    Returns:
        Path: ``path``. Inputs ``boxes``, ``scores``, ``valid`` (and ``features``), output
        ``logits``; ``s1 = sigmoid(logits)``, one column per ``model.thresholds``.

    Raises:
        ValueError: ``model`` is not a :class:`DuplicateRemovalNetwork`, a size is not a
            positive int, or the directory of ``path`` is missing or not writable.
    """
    check_model("model", model)
    example_groups = check_int("example_groups", example_groups, low=1)
    example_size = check_int("example_size", example_size, low=1)
    opset = check_int("opset", opset, low=1)
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs onnx: pip install 'relnet-dedup[export]'") from err
    path = check_writable(path)
    graph = _Padded(_cpu_copy(model))
    args = example_inputs(graph.net, example_groups, example_size)
    names = ["boxes", "scores", "valid"] + (["features"] if len(args) == 4 else [])
    dynamic = {name: {0: "groups", 1: "size"} for name in names}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # shape checks read sizes as Python values while tracing: constants of the graph
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        # the torch.export-based exporter (dynamo=True) cannot yet export the relation
        # module with a dynamic N; the TorchScript-based one can, and warns it is legacy
        warnings.simplefilter("ignore", DeprecationWarning)
        # F.pad of the padding group exports with a reversed Slice that is not folded: harmless
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            graph,
            args,
            buffer,  # type: ignore[arg-type]  # the TorchScript-based exporter takes a file object
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "groups", 1: "size"}},
            opset_version=opset,
            dynamo=False,
        )
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


class _Padded(nn.Module):
    """The network with one invalid group and one invalid slot appended (and cut off again), so
    that ``G = 0`` or ``N = 0`` never reaches an operator as an empty dimension in the graph."""

    def __init__(self, net: DuplicateRemovalNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, boxes: Tensor, scores: Tensor, valid: Tensor, features: Tensor | None = None
    ) -> Tensor:
        boxes_p = F.pad(boxes, (0, 0, 0, 1, 0, 1))  # [G+1, N+1, 4]
        scores_p = F.pad(scores, (0, 1, 0, 1))  # [G+1, N+1]
        valid_p = F.pad(valid.to(torch.uint8), (0, 1, 0, 1)).bool()  # [G+1, N+1], pads False
        feats_p = None if features is None else F.pad(features, (0, 0, 0, 1, 0, 1))
        logits: Tensor = self.net(boxes_p, scores_p, valid_p, feats_p)  # [G+1, N+1, T]
        # slicing by the size of boxes keeps boxes an input of the graph for every geometry
        return logits[: boxes.shape[0], : boxes.shape[1]]  # [G, N, T]


def example_inputs(
    model: DuplicateRemovalNetwork, groups: int, size: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Random but valid inputs ``(boxes, scores, valid[, features])`` for ``model``, CPU."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(groups, size, 2, generator=gen) * 100  # [G, N, 2]
    wh = 10 + torch.rand(groups, size, 2, generator=gen) * 50  # [G, N, 2]
    boxes = torch.cat([xy, xy + wh], dim=-1)  # [G, N, 4]
    scores = torch.rand(groups, size, generator=gen)  # [G, N]
    valid = torch.ones(groups, size, dtype=torch.bool)
    if groups > 0:
        valid[-1, size // 2 :] = False
    if model.config.use_appearance:
        features = torch.randn(groups, size, model.config.feat_dim, generator=gen)
        return boxes, scores, valid, features
    return boxes, scores, valid


def _cpu_copy(model: DuplicateRemovalNetwork) -> DuplicateRemovalNetwork:
    copy = DuplicateRemovalNetwork(model.config)
    copy.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return copy.eval()
