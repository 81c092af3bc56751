"""learned_batched_nms: one batched forward equals a per-group loop; eta, thresholds, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relnet_dedup import (
    DedupConfig,
    DuplicateRemovalNetwork,
    build_dedup_network,
    learned_batched_nms,
)

SMALL = {"embed_dim": 32, "num_relations": 4, "key_dim": 8, "geo_dim": 16}


def make_net(use_appearance: bool, seed: int = 0) -> DuplicateRemovalNetwork:
    torch.manual_seed(seed)
    net = build_dedup_network(DedupConfig(feat_dim=6, use_appearance=use_appearance, **SMALL))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.2)
    return net.eval()


def make_detections(n: int, groups: int, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 100  # [N, 2]
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=gen) * 40], dim=1)  # [N, 4]
    scores = torch.rand(n, generator=gen) ** 2  # many below 0.01 and many ties near 0
    idxs = torch.randint(0, groups, (n,), generator=gen) * 7 - 3  # arbitrary integer ids
    feats = torch.randn(n, 6, generator=gen)
    return boxes, scores, idxs, feats


def loop_reference(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    net: DuplicateRemovalNetwork,
    feats: torch.Tensor | None,
    eta: float | None,
    score_threshold: float,
    first_n: int,
) -> dict[int, float]:
    """Per group: filter, keep the first_n highest, run the network alone, combine the scores."""
    out: dict[int, float] = {}
    for g in idxs.unique().tolist():
        members = [i for i in range(len(scores)) if idxs[i] == g and scores[i] > score_threshold]
        members = sorted(members, key=lambda i: (-float(scores[i]), i))[:first_n]
        if not members:
            continue
        sel = torch.tensor(members)
        f = None if feats is None else feats[sel][None]
        ones = torch.ones(1, len(members), dtype=torch.bool)
        with torch.no_grad():
            s1 = torch.sigmoid(net(boxes[sel][None], scores[sel][None], ones, f)[0])  # [n, T]
        s1 = s1.mean(-1) if eta is None else s1[:, net.thresholds.index(eta)]
        for i, value in zip(members, (scores[sel] * s1).tolist(), strict=True):
            out[i] = value
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_appearance", [True, False])
@pytest.mark.parametrize(("score_threshold", "first_n"), [(0.01, 100), (0.2, 3), (-1.0, 1)])
def test_matches_per_group_loop(
    seed: int, use_appearance: bool, score_threshold: float, first_n: int
) -> None:
    boxes, scores, idxs, feats = make_detections(60, 5, seed)
    net = make_net(use_appearance, seed)
    f = feats if use_appearance else None
    keep, final = learned_batched_nms(
        boxes, scores, idxs, net, f, score_threshold=score_threshold, first_n=first_n
    )
    ref = loop_reference(boxes, scores, idxs, net, f, None, score_threshold, first_n)
    assert sorted(keep.tolist()) == sorted(ref)
    torch.testing.assert_close(
        final, torch.tensor([ref[i] for i in keep.tolist()]), rtol=1e-5, atol=1e-6
    )
    assert (final[:-1] >= final[1:]).all()  # sorted by final score, descending
    assert keep.dtype == torch.int64


@pytest.mark.parametrize("eta", [0.5, 0.7, 0.9, None])
def test_eta_picks_one_threshold(eta: float | None) -> None:
    boxes, scores, idxs, _ = make_detections(40, 3, 7)
    net = make_net(False, 1)
    keep, final = learned_batched_nms(boxes, scores, idxs, net, eta=eta)
    ref = loop_reference(boxes, scores, idxs, net, None, eta, 0.01, 100)
    torch.testing.assert_close(
        final, torch.tensor([ref[i] for i in keep.tolist()]), rtol=1e-5, atol=1e-6
    )


def test_unknown_eta_lists_the_available_ones() -> None:
    boxes, scores, idxs, _ = make_detections(10, 2, 0)
    with pytest.raises(ValueError, match=r"\[0.5, 0.6, 0.7, 0.8, 0.9\].*0.75"):
        learned_batched_nms(boxes, scores, idxs, make_net(False), eta=0.75)


def test_score_threshold_and_first_n_semantics() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 6)
    scores = torch.tensor([0.5, 0.01, 0.3, 0.9, 0.02, 0.3])
    idxs = torch.tensor([0, 0, 0, 0, 1, 1])
    net = make_net(False)
    keep, _ = learned_batched_nms(boxes, scores, idxs, net)
    assert sorted(keep.tolist()) == [0, 2, 3, 4, 5]  # 0.01 is not > 0.01
    keep, _ = learned_batched_nms(boxes, scores, idxs, net, first_n=2)
    assert sorted(keep.tolist()) == [0, 3, 4, 5]
    keep, _ = learned_batched_nms(boxes, scores, idxs, net, first_n=1, score_threshold=0.05)
    assert sorted(keep.tolist()) == [3, 5]
    keep, final = learned_batched_nms(boxes, scores, idxs, net, score_threshold=0.95)
    assert keep.shape == (0,)
    assert final.shape == (0,)


def test_train_mode_and_grad_mode_do_not_matter() -> None:
    boxes, scores, idxs, _ = make_detections(30, 3, 2)
    net = make_net(False)
    keep_e, final_e = learned_batched_nms(boxes, scores, idxs, net)
    net.train()
    keep_t, final_t = learned_batched_nms(boxes, scores, idxs, net)
    assert torch.equal(keep_e, keep_t)
    assert torch.allclose(final_e, final_t)
    assert not final_t.requires_grad


def test_empty_input() -> None:
    keep, final = learned_batched_nms(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), make_net(False)
    )
    assert keep.shape == (0,)
    assert final.shape == (0,)
    assert keep.dtype == torch.int64
    keep, _ = learned_batched_nms(
        torch.zeros(0, 4),
        torch.zeros(0),
        torch.zeros(0, dtype=torch.long),
        make_net(True),
        torch.zeros(0, 6),
    )
    assert keep.shape == (0,)


def test_bad_inputs_name_the_argument() -> None:
    boxes, scores, idxs, feats = make_detections(8, 2, 0)
    plain, appearance = make_net(False), make_net(True)
    cases = [
        (lambda: learned_batched_nms(boxes[:7], scores, idxs, plain), "scores"),
        (lambda: learned_batched_nms(boxes, scores, idxs[:3], plain), "idxs"),
        (lambda: learned_batched_nms(boxes, scores, idxs.float(), plain), "idxs"),
        (lambda: learned_batched_nms(boxes[:, :3], scores, idxs, plain), "boxes"),
        (
            lambda: learned_batched_nms(boxes, scores.clone().fill_(float("nan")), idxs, plain),
            "scores",
        ),
        (
            lambda: learned_batched_nms(boxes.clone().fill_(float("inf")), scores, idxs, plain),
            "boxes",
        ),
        (lambda: learned_batched_nms(boxes, scores, idxs, appearance), "features are required"),
        (lambda: learned_batched_nms(boxes, scores, idxs, plain, feats), "features must be None"),
        (lambda: learned_batched_nms(boxes, scores, idxs, appearance, feats[:, :5]), r"\(8, 6\)"),
        (lambda: learned_batched_nms(boxes, scores, idxs, appearance, feats[:7]), "features"),
        (lambda: learned_batched_nms(boxes, scores, idxs, appearance, feats * float("nan")), "NaN"),
        (lambda: learned_batched_nms(boxes, scores, idxs, plain, first_n=0), "first_n"),
        (
            lambda: learned_batched_nms(boxes, scores, idxs, plain, score_threshold=float("nan")),
            "score_threshold",
        ),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    boxes, scores, idxs, feats = make_detections(80, 4, 3)
    net = make_net(True)
    _keep, final = learned_batched_nms(boxes, scores, idxs, net, feats)
    cuda = torch.device("cuda")
    keep_c, final_c = learned_batched_nms(
        boxes.to(cuda), scores.to(cuda), idxs.to(cuda), net.to(cuda), feats.to(cuda)
    )
    assert keep_c.device.type == "cuda"
    torch.testing.assert_close(final_c.cpu(), final, rtol=1e-4, atol=1e-5)


def test_defect8_torchvision_argument_order_says_what_model_must_be() -> None:
    """Issue 10, defect 8: AttributeError: 'float' object has no attribute 'thresholds'."""
    boxes, scores, idxs, _ = make_detections(8, 2, 0)
    for bad in (0.5, np.float32(0.5), 1):
        with pytest.raises(
            ValueError,
            match=r"model must be a DuplicateRemovalNetwork, got .*takes the network where "
            r"torchvision's batched_nms takes iou_threshold",
        ):
            learned_batched_nms(boxes, scores, idxs, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"model must be a DuplicateRemovalNetwork.*Linear"):
        learned_batched_nms(boxes, scores, idxs, torch.nn.Linear(2, 2))  # type: ignore[arg-type]


@pytest.mark.parametrize("eta", [np.float32(0.7), np.float64(0.7)])
def test_defect8_numpy_scalars_are_accepted(eta: object) -> None:
    """Issue 10, defect 8: eta=np.float32(0.7) and first_n=np.int64(5) were refused."""
    boxes, scores, idxs, _ = make_detections(40, 3, 1)
    net = make_net(False)
    keep, final = learned_batched_nms(
        boxes, scores, idxs, net, eta=eta, first_n=np.int64(5), score_threshold=np.float32(0.01)
    )
    ref_keep, ref_final = learned_batched_nms(boxes, scores, idxs, net, eta=0.7, first_n=5)
    assert torch.equal(keep, ref_keep)
    assert torch.equal(final, ref_final)


def test_defect8_bad_scalars_name_the_argument() -> None:
    boxes, scores, idxs, _ = make_detections(8, 2, 0)
    net = make_net(False)
    for kwargs, match in [
        ({"eta": "0.7"}, r"eta must be a number, got '0.7' \(str\)"),
        ({"eta": 0.65}, r"eta must be one of the model's thresholds \[0.5, .*got 0.65"),
        ({"first_n": 5.0}, r"first_n must be an int, got 5.0"),
        ({"first_n": np.int64(0)}, r"first_n must be an int >= 1, got 0"),
        ({"score_threshold": "0.1"}, r"score_threshold must be a number, got '0.1'"),
    ]:
        with pytest.raises(ValueError, match=match):
            learned_batched_nms(boxes, scores, idxs, net, **kwargs)  # type: ignore[arg-type]


def test_defect2_a_model_with_nan_weights_gives_an_error_not_nan_scores() -> None:
    """Issue 10, defect 2: learned_batched_nms returned NaN scores from NaN weights."""
    boxes, scores, idxs, _ = make_detections(20, 2, 0)
    net = make_net(False)
    with torch.no_grad():
        net.classifier.bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"model gave NaN scores: its weights hold NaN or inf"):
        learned_batched_nms(boxes, scores, idxs, net)
