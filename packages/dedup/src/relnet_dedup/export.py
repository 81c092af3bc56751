"""ONNX export of the duplicate removal network (paper §4.3) for deployment.

The exported graph is :meth:`DuplicateRemovalNetwork.forward` on padded groups: inputs ``boxes
[G, N, 4]``, ``scores [G, N]``, ``valid [G, N]`` (bool) and, for a network with appearance,
``features [G, N, feat_dim]``; output ``logits [G, N, T]``. ``G`` and ``N`` are dynamic. Needs the
optional ``export`` extra (``pip install "relnet-dedup[export]"``: onnx, and onnxruntime to run
the file).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from .network import DuplicateRemovalNetwork


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
        path (str | PathLike): the ``.onnx`` file to write (atomically).
        example_groups (int): ``G`` of the example input used for tracing.
        example_size (int): ``N`` of the example input used for tracing.
        opset (int): the ONNX opset version.

    Returns:
        Path: ``path``. Inputs ``boxes``, ``scores``, ``valid`` (and ``features``), output
        ``logits``; ``s1 = sigmoid(logits)``, one column per ``model.thresholds``.
    """
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs onnx: pip install 'relnet-dedup[export]'") from err
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {path.parent} does not exist")
    cpu = _cpu_copy(model)
    args = example_inputs(cpu, example_groups, example_size)
    names = ["boxes", "scores", "valid"] + (["features"] if len(args) == 4 else [])
    dynamic = {name: {0: "groups", 1: "size"} for name in names}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # shape checks read sizes as Python values while tracing: constants of the graph
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            # the torch.export-based exporter (dynamo=True) cannot yet export the relation
            # module with a dynamic N; the TorchScript-based one can, and warns it is legacy
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                cpu,
                args,
                tmp,
                input_names=names,
                output_names=["logits"],
                dynamic_axes={**dynamic, "logits": {0: "groups", 1: "size"}},
                opset_version=opset,
                dynamo=False,
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    valid[-1, size // 2 :] = False
    if model.config.use_appearance:
        features = torch.randn(groups, size, model.config.feat_dim, generator=gen)
        return boxes, scores, valid, features
    return boxes, scores, valid


def _cpu_copy(model: DuplicateRemovalNetwork) -> DuplicateRemovalNetwork:
    copy = DuplicateRemovalNetwork(model.config)
    copy.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return copy.eval()
