"""A direct transliteration of the authors' MXNet relation module, for tests.

``extract_position_matrix``, ``extract_position_embedding`` and ``attention_module_multi_head`` of
the authors' released code, with ``w = x2 - x1`` (no ``+ 1``, as DESIGN.md says): the
``[N, K, d_g]`` embedding is materialised, ``fc d_g -> N_r``, ReLU, ``log(max(., 1e-6))`` plus the
scaled dot product, a softmax over the keys, the RAW features aggregated per relation
(``[N_r, N, K] @ [K, d_f]``) and a grouped 1x1 convolution (``num_group = N_r``, each
``d_f -> d_f / N_r``). The keys are the objects selected by ``key_mask`` (the authors keep the
first ``nongt_dim``). It reads ``RelationModule``'s parameters and shares no code with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from relnet_attention import RelationModule


def position_matrix(boxes: Tensor, key_boxes: Tensor) -> Tensor:
    """``extract_position_matrix``: ``[N, 4], [K, 4] -> [N, K, 4]``, row = query."""
    x1, y1, x2, y2 = boxes.split(1, dim=1)  # [N, 1] each
    kx1, ky1, kx2, ky2 = key_boxes.split(1, dim=1)  # [K, 1] each
    w, h, kw, kh = x2 - x1, y2 - y1, kx2 - kx1, ky2 - ky1
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    kcx, kcy = 0.5 * (kx1 + kx2), 0.5 * (ky1 + ky2)
    delta_x = torch.log(torch.clamp(((cx - kcx.t()) / w).abs(), min=1e-3))  # [N, K]
    delta_y = torch.log(torch.clamp(((cy - kcy.t()) / h).abs(), min=1e-3))  # [N, K]
    delta_w = torch.log(w / kw.t())  # [N, K]
    delta_h = torch.log(h / kh.t())  # [N, K]
    return torch.stack([delta_x, delta_y, delta_w, delta_h], dim=2)  # [N, K, 4]


def position_embedding(position: Tensor, feat_dim: int, scale: float = 100.0) -> Tensor:
    """``extract_position_embedding``: ``[..., 4] -> [..., feat_dim]``."""
    feat_range = torch.arange(0, feat_dim // 8, dtype=position.dtype)
    dim_mat = 1000.0 ** ((8.0 / feat_dim) * feat_range)  # [feat_dim/8]
    div_mat = (scale * position)[..., None] / dim_mat  # [..., 4, feat_dim/8]
    embedding = torch.cat([div_mat.sin(), div_mat.cos()], dim=-1)  # [..., 4, feat_dim/4]
    return embedding.flatten(-2)  # [..., feat_dim]


def authors_relation(
    module: RelationModule, features: Tensor, boxes: Tensor, key_mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The authors' module, unbatched.

    Args:
        module: the parameters to use.
        features (Tensor[N, d_f]): appearance features.
        boxes (Tensor[N, 4]): boxes ``(x1, y1, x2, y2)``.
        key_mask (Tensor[N], bool, optional): which objects serve as keys.

    Returns:
        ``f + attention(f)`` (Tensor[N, d_f]) and the weights (Tensor[N_r, N, N], zero columns for
        objects that are not keys).
    """
    n, df, nr = features.shape[0], module.feat_dim, module.num_relations
    keys = torch.arange(n) if key_mask is None else key_mask.nonzero()[:, 0]  # [K]
    weights = features.new_zeros(n, nr, n)  # [N, Nr, N]
    if len(keys) == 0:
        return features, weights.permute(1, 0, 2)
    roi_feat = features
    if module.geometry == "unary":
        roi_feat = features + position_embedding(boxes, df, scale=1.0)  # [N, df]
    nongt_roi_feat = roi_feat[keys]  # [K, df]
    q_data = F.linear(roi_feat, module.query.weight, module.query.bias)  # [N, Nr * dk]
    q_data_batch = q_data.view(n, nr, -1).transpose(0, 1)  # [Nr, N, dk]
    k_data = F.linear(nongt_roi_feat, module.key.weight, module.key.bias)  # [K, Nr * dk]
    k_data_batch = k_data.view(len(keys), nr, -1).transpose(0, 1)  # [Nr, K, dk]
    aff = q_data_batch @ k_data_batch.transpose(1, 2)  # [Nr, N, K]
    aff_scale = (1.0 / math.sqrt(q_data_batch.shape[-1])) * aff
    aff_scale = aff_scale.transpose(0, 1)  # [N, Nr, K]
    if module.geometry == "pairwise":
        assert module.geo_proj is not None
        embedding = position_embedding(position_matrix(boxes, boxes[keys]), module.geo_dim)
        position_feat_1 = F.linear(embedding, module.geo_proj.weight, module.geo_proj.bias)
        aff_weight = F.relu(position_feat_1).permute(0, 2, 1)  # [N, Nr, K]
        weighted_aff = torch.log(torch.clamp(aff_weight, min=1e-6)) + aff_scale
    else:
        weighted_aff = aff_scale  # w_G = 1
    aff_softmax = weighted_aff.softmax(dim=2)  # [N, Nr, K]
    output_t = aff_softmax.reshape(n * nr, -1) @ nongt_roi_feat  # [N * Nr, df]
    output_t = output_t.reshape(n, nr * df, 1, 1)  # [N, Nr * df, 1, 1]
    conv_weight = module.value.weight.view(df, df, 1, 1)  # group r: df inputs -> df/Nr outputs
    linear_out = F.conv2d(output_t, conv_weight, module.value.bias, groups=nr)  # [N, df, 1, 1]
    weights[:, :, keys] = aff_softmax
    return features + linear_out.view(n, df), weights.permute(1, 0, 2)  # [Nr, N, N]


def make_module(
    geometry: str = "pairwise",
    seed: int = 0,
    chunk_size: int = 5,
    dtype: torch.dtype = torch.float64,
) -> RelationModule:
    """A small module with weights large enough for a far-from-uniform attention."""
    torch.manual_seed(seed)
    module = RelationModule(
        feat_dim=32,
        num_relations=4,
        key_dim=8,
        geo_dim=16,
        geometry=geometry,
        chunk_size=chunk_size,
    )
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, 0.3)
    return module.to(dtype)


def random_inputs(
    n: int, seed: int, dtype: torch.dtype = torch.float64, lead: tuple[int, ...] = ()
) -> tuple[Tensor, Tensor]:
    """Features ``[*lead, n, 32]`` and boxes ``[*lead, n, 4]`` in a 600-pixel image."""
    gen = torch.Generator().manual_seed(1000 + seed)
    features = torch.randn(*lead, n, 32, generator=gen, dtype=torch.float64)
    xy = torch.rand(*lead, n, 2, generator=gen, dtype=torch.float64) * 500
    wh = 2 + torch.rand(*lead, n, 2, generator=gen, dtype=torch.float64) * 150
    return features.to(dtype), torch.cat([xy, xy + wh], dim=-1).to(dtype)
