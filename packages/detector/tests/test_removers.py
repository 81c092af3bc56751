"""Duplicate removers on raw detections, eval-mode forward as raw_detections + remove_duplicates,
and switching the remover of one trained model without retraining."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from detector_helpers import NUM_CLASSES, model_config, rectangles, trained_model

from relnet_dedup import DedupConfig, DuplicateRemovalNetwork, batched_soft_nms, save_checkpoint
from relnet_detector import RawDetections, RelationDetector, build_detector, remove_duplicates
from relnet_detector.config import RemoverConfig
from relnet_detector.modeling.removers import remove_duplicates_batch


@pytest.fixture(scope="module")
def model() -> RelationDetector:
    """One tiny detector trained end to end for a few steps, shared by this module's tests."""
    return trained_model("e2e", steps=4)


def learned_checkpoint(path: Path, feat_dim: int, use_appearance: bool = True) -> Path:
    torch.manual_seed(1)
    config = DedupConfig(
        feat_dim=feat_dim,
        use_appearance=use_appearance,
        embed_dim=16,
        num_relations=4,
        key_dim=8,
        geo_dim=16,
    )
    return save_checkpoint(DuplicateRemovalNetwork(config), path)


def raw_example(seed: int = 0, m: int = 60, d: int = 8) -> RawDetections:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(m, 2, generator=g) * 80
    boxes = torch.cat([xy, xy + 5 + torch.rand(m, 2, generator=g) * 30], dim=1)
    return RawDetections(
        boxes=boxes,
        scores=torch.rand(m, generator=g),
        labels=torch.randint(1, 4, (m,), generator=g),
        roi_index=torch.randint(0, 20, (m,), generator=g),
        roi_features=torch.randn(20, d, generator=g),
    )


def test_nms_is_torchvisions() -> None:
    raw = raw_example()
    remover = RemoverConfig(
        method="nms", score_threshold=0.2, nms_threshold=0.4, detections_per_img=9
    )
    out = remove_duplicates(raw, remover)
    keep = torch.where(raw.scores > 0.2)[0]
    ref = keep[
        torchvision.ops.batched_nms(raw.boxes[keep], raw.scores[keep], raw.labels[keep], 0.4)
    ]
    ref = ref[:9]
    torch.testing.assert_close(out["boxes"], raw.boxes[ref])
    torch.testing.assert_close(out["scores"], raw.scores[ref])
    torch.testing.assert_close(out["labels"], raw.labels[ref])


def test_soft_nms_is_relnet_dedups() -> None:
    raw = raw_example(1)
    remover = RemoverConfig(method="soft-nms", score_threshold=0.1, soft_nms_sigma=0.3)
    out = remove_duplicates(raw, remover)
    keep = torch.where(raw.scores > 0.1)[0]
    ref, scores = batched_soft_nms(raw.boxes[keep], raw.scores[keep], raw.labels[keep], sigma=0.3)
    torch.testing.assert_close(out["boxes"], raw.boxes[keep][ref][:100])
    torch.testing.assert_close(out["scores"], scores[:100])


@pytest.mark.parametrize("use_appearance", [True, False])
def test_learned_uses_features_iff_the_network_does(use_appearance: bool) -> None:
    raw = raw_example(2)
    torch.manual_seed(0)
    config = DedupConfig(
        feat_dim=8, use_appearance=use_appearance, embed_dim=16, num_relations=4, key_dim=8
    )
    network = DuplicateRemovalNetwork(config).eval()
    remover = RemoverConfig(method="learned", score_threshold=0.1, first_n=5, detections_per_img=7)
    out = remove_duplicates(raw, remover, network)
    assert out["scores"].shape[0] <= 7
    assert bool((out["scores"][:-1] >= out["scores"][1:]).all())
    for label in range(1, 4):
        assert int((out["labels"] == label).sum()) <= 5  # first_n per class
    if use_appearance:  # other features, other scores
        changed = dataclasses.replace(raw, roi_features=raw.roi_features * 3)
        assert not torch.equal(
            remove_duplicates(changed, remover, network)["scores"], out["scores"]
        )


@pytest.mark.parametrize("method", ["nms", "soft-nms", "learned", "e2e"])
def test_empty_raw(method: str) -> None:
    raw = raw_example(m=0)
    network = DuplicateRemovalNetwork(DedupConfig(feat_dim=8, embed_dim=16, num_relations=4))
    out = remove_duplicates(raw, RemoverConfig(method=method), network.eval())  # type: ignore[arg-type]
    assert out["boxes"].shape == (0, 4)
    assert out["scores"].shape == out["labels"].shape == (0,)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"method": "greedy"}, "method"),
        ({"score_threshold": -0.1}, "score_threshold"),
        ({"nms_threshold": 1.5}, "nms_threshold"),
        ({"soft_nms_sigma": 0.0}, "soft_nms_sigma"),
        ({"detections_per_img": 0}, "detections_per_img"),
        ({"first_n": True}, "first_n"),
        ({"eta": 0.0}, "eta"),
    ],
)
def test_bad_remover_names_field(change: dict[str, object], name: str) -> None:
    remover = dataclasses.replace(RemoverConfig(method="nms"), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        remove_duplicates(raw_example(), remover)


@pytest.mark.parametrize("method", ["learned", "e2e"])
def test_learned_without_network(method: str) -> None:
    with pytest.raises(ValueError, match=method):
        remove_duplicates(raw_example(), RemoverConfig(method=method))  # type: ignore[arg-type]


def test_learned_with_wrong_feature_size() -> None:
    network = DuplicateRemovalNetwork(DedupConfig(feat_dim=5, embed_dim=16, num_relations=4))
    with pytest.raises(ValueError, match="features"):
        remove_duplicates(raw_example(), RemoverConfig(method="learned"), network.eval())


def test_forward_is_raw_detections_plus_remove_duplicates(
    model: RelationDetector, tmp_path: Path
) -> None:
    images = [torch.rand(3, 64, 64), torch.rand(3, 40, 72)]
    checkpoint = learned_checkpoint(tmp_path / "dedup.pt", model.box_head.out_dim)
    removers = [
        RemoverConfig(method="nms", score_threshold=0.05),
        RemoverConfig(method="soft-nms", score_threshold=0.05),
        RemoverConfig(method="learned", checkpoint=str(checkpoint), first_n=8),
        RemoverConfig(method="e2e", first_n=8),
    ]
    with torch.no_grad():
        raws = model.raw_detections(images, score_threshold=0.0)
        for remover in removers:
            model.set_remover(remover)
            out = model(images)
            for raw, det in zip(raws, out, strict=True):
                expected = remove_duplicates(raw, remover, model.dedup_network)
                for key in ("boxes", "labels", "scores"):
                    torch.testing.assert_close(det[key], expected[key], msg=remover.method)


def test_raw_detections_are_in_original_pixels(model: RelationDetector) -> None:
    image = torch.rand(3, 32, 96)  # resized to 64 px shorter side... then capped at 64 long
    with torch.no_grad():
        (raw,) = model.raw_detections([image], score_threshold=0.0)
    assert len(raw) > 0
    assert raw.boxes[:, 0::2].max() <= 96 + 1e-3
    assert raw.boxes[:, 1::2].max() <= 32 + 1e-3
    assert raw.features.shape == (len(raw), model.box_head.out_dim)
    assert raw.roi_index.max() < raw.roi_features.shape[0]
    assert raw.labels.min() >= 1
    assert raw.labels.max() <= NUM_CLASSES


def test_switching_removers_on_one_trained_model(model: RelationDetector, tmp_path: Path) -> None:
    images = [torch.rand(3, 64, 64)]
    checkpoint = learned_checkpoint(tmp_path / "dedup.pt", model.box_head.out_dim)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    outputs = {}
    with torch.no_grad():
        for remover in [
            RemoverConfig(method="nms", score_threshold=0.0),
            RemoverConfig(method="soft-nms", score_threshold=0.0),
            RemoverConfig(method="learned", checkpoint=str(checkpoint), score_threshold=0.0),
            RemoverConfig(method="e2e", score_threshold=0.0),
        ]:
            model.set_remover(remover)
            assert model.remover == remover
            assert model.config.remover == remover
            outputs[remover.method] = model(images)[0]
    assert model.dedup_network is model.roi_heads.dedup
    assert model.state_dict().keys() == state.keys()  # the learned network is not in it
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not torch.equal(outputs["nms"]["scores"], outputs["learned"]["scores"])
    assert not torch.equal(outputs["learned"]["scores"], outputs["e2e"]["scores"])


def test_learned_network_follows_the_model(model: RelationDetector, tmp_path: Path) -> None:
    checkpoint = learned_checkpoint(tmp_path / "dedup.pt", model.box_head.out_dim)
    model.set_remover(RemoverConfig(method="learned", checkpoint=str(checkpoint)))
    try:
        model.double()
        network = model.dedup_network
        assert network is not None
        assert next(network.parameters()).dtype == torch.float64
    finally:
        model.float()


def test_set_remover_errors(model: RelationDetector, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        model.set_remover(RemoverConfig(method="learned"))
    with pytest.raises(FileNotFoundError):
        model.set_remover(RemoverConfig(method="learned", checkpoint=str(tmp_path / "none.pt")))
    wrong = learned_checkpoint(tmp_path / "wrong.pt", model.box_head.out_dim + 1)
    with pytest.raises(ValueError, match="appearance"):
        model.set_remover(RemoverConfig(method="learned", checkpoint=str(wrong)))
    boxes_only = learned_checkpoint(tmp_path / "boxes.pt", 7, use_appearance=False)
    model.set_remover(RemoverConfig(method="learned", checkpoint=str(boxes_only)))  # any feat_dim
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"corrupt\.pt"):
        model.set_remover(RemoverConfig(method="learned", checkpoint=str(tmp_path / "corrupt.pt")))
    with pytest.raises(ValueError, match="soft_nms_sigma"):
        model.set_remover(RemoverConfig(method="soft-nms", soft_nms_sigma=-1.0))


def test_e2e_needs_own_trained_network() -> None:
    torch.manual_seed(0)
    plain = build_detector(model_config("nms"), NUM_CLASSES).eval()
    assert plain.roi_heads.dedup is None
    with pytest.raises(ValueError, match="e2e"):
        plain.set_remover(RemoverConfig(method="e2e"))
    untrained = build_detector(model_config("e2e"), NUM_CLASSES).eval()
    with pytest.raises(ValueError, match="never trained"):
        untrained.set_remover(RemoverConfig(method="e2e"))
    # once trained (or its trained weights loaded), it can be switched back and forth
    images, targets = rectangles(1)
    untrained.train()(images, targets)
    untrained.eval()
    untrained.set_remover(RemoverConfig(method="nms"))
    untrained.set_remover(RemoverConfig(method="e2e"))
    reloaded = build_detector(model_config("e2e"), NUM_CLASSES)
    reloaded.load_state_dict(untrained.state_dict())
    reloaded.set_remover(RemoverConfig(method="e2e"))


def test_build_with_learned_remover(tmp_path: Path) -> None:
    config = model_config("nms")
    head_dim = config.head.hidden_dim
    checkpoint = learned_checkpoint(tmp_path / "dedup.pt", head_dim)
    remover = dataclasses.replace(config.remover, method="learned", checkpoint=str(checkpoint))
    model = build_detector(dataclasses.replace(config, remover=remover), NUM_CLASSES).eval()
    assert model.dedup_network is not None
    assert model.roi_heads.dedup is None
    with torch.no_grad():
        out = model([torch.rand(3, 64, 64)])
    assert out[0]["boxes"].shape[1] == 4
    missing = dataclasses.replace(remover, checkpoint="")
    with pytest.raises(ValueError, match="checkpoint"):
        build_detector(dataclasses.replace(config, remover=missing), NUM_CLASSES)


@pytest.mark.parametrize("method", ["nms", "soft-nms", "learned"])
def test_batch_equals_per_image(method: str) -> None:
    raws = [raw_example(seed, m) for seed, m in [(3, 40), (4, 0), (5, 70), (6, 25)]]
    torch.manual_seed(0)
    network = DuplicateRemovalNetwork(DedupConfig(feat_dim=8, embed_dim=16, num_relations=4))
    remover = RemoverConfig(method=method, score_threshold=0.1, first_n=6, detections_per_img=11)  # type: ignore[arg-type]
    batched = remove_duplicates_batch(raws, remover, network.eval())
    assert len(batched) == 4
    for raw, got in zip(raws, batched, strict=True):
        expected = remove_duplicates(raw, remover, network)
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert remove_duplicates_batch([], remover, network) == []
