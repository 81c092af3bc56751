"""The geometry weight of Eq. (5) as an additive attention bias, computed in chunks.

``log(max(w_G, 1e-6))`` with ``w_G = max(0, W_G · E_G)`` enters the softmax of Eq. (3) as a bias
(the authors' ``weighted_aff``). The direct form materialises the ``[B, N, N, d_g]`` embedding and
keeps it for backward; here it is computed for a chunk of query rows at a time and, when gradients
are needed, recomputed in backward (``torch.utils.checkpoint``), so only the ``[B, Nr, N, N]`` bias
is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from relnet_geometry import geometry_embedding

MIN_WEIGHT = 1e-6  # w_G is clamped here before the log, as in the authors' code


def geometry_log_weight(
    query_boxes: Tensor, boxes: Tensor, proj: nn.Linear, geo_dim: int
) -> Tensor:
    """``log(max(W_G · E_G, 1e-6))`` for a chunk of query rows.

    Args:
        query_boxes (Tensor[B, C, 4]): the chunk's query boxes.
        boxes (Tensor[B, N, 4]): all key boxes.
        proj (nn.Linear): ``W_G``, ``geo_dim -> Nr``.
        geo_dim (int): ``d_g``.

    Returns:
        Tensor[B, Nr, C, N]: the bias, in the dtype of ``proj``'s weight.
    """
    emb = geometry_embedding(query_boxes, geo_dim, key_boxes=boxes)  # [B, C, N, dg]
    weight = proj(emb.to(proj.weight.dtype))  # [B, C, N, Nr]
    return weight.clamp(min=MIN_WEIGHT).log().permute(0, 3, 1, 2)  # [B, Nr, C, N]


def geometry_bias(boxes: Tensor, proj: nn.Linear, geo_dim: int, chunk_size: int) -> Tensor:
    """The geometry bias of every (query, key) pair, ``chunk_size`` query rows at a time.

    Args:
        boxes (Tensor[B, N, 4]): boxes ``(x1, y1, x2, y2)``.
        proj (nn.Linear): ``W_G``, ``geo_dim -> Nr``.
        geo_dim (int): ``d_g``.
        chunk_size (int): query rows per chunk; bounds the live embedding to ``[B, C, N, d_g]``.

    Returns:
        Tensor[B, Nr, N, N]: ``log(max(w_G, 1e-6))``, row = query, column = key.
    """
    n = boxes.shape[-2]
    recompute = torch.is_grad_enabled() and proj.weight.requires_grad
    chunks = []
    for start in range(0, n, chunk_size):
        rows = boxes[:, start : start + chunk_size]  # [B, C, 4]
        if recompute:
            chunks.append(
                checkpoint(geometry_log_weight, rows, boxes, proj, geo_dim, use_reentrant=False)
            )
        else:
            chunks.append(geometry_log_weight(rows, boxes, proj, geo_dim))
    return torch.cat(chunks, dim=2)  # [B, Nr, N, N]
