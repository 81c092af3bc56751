"""Shared fixtures of the detector tests: tiny COCO folders and a tiny, fast configuration."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from relnet_detector.config import DetectorConfig, RoIConfig, RPNConfig, TrainConfig


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped on CPU-only machines")


COLOURS = ((220, 40, 40), (40, 200, 60), (50, 80, 230), (230, 200, 40))


def write_coco_folder(
    root: Path,
    *,
    num_images: int = 6,
    size: tuple[int, int] = (96, 96),
    category_ids: Sequence[int] = (7, 3, 42),
    split: str = "train",
    seed: int = 0,
    formats: Sequence[str] = ("png",),
    subfolder: str = "train",
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """A COCO folder of ``num_images`` images of coloured rectangles on grey, one category per
    colour, in ``root/images/<subfolder>/``; returns ``root``.

    Args:
        root: the folder to create.
        num_images: images in the split.
        size: ``(width, height)`` of every image.
        category_ids: the file's category ids (any integers), one colour each.
        split: writes ``annotations/instances_{split}.json``.
        seed: the rectangles' positions and colours.
        formats: file formats cycled over the images: ``"png"``, ``"jpeg"``, ``"gray"`` (8-bit
            grayscale PNG), ``"rgba"`` (PNG with alpha), ``"palette"`` (P-mode PNG).
        subfolder: folder under ``images/`` (``""`` for none).
        edit: called with the dataset dict before it is written (to break it on purpose).
    """
    rng = np.random.default_rng(seed)
    width, height = size
    image_dir = root / "images" / subfolder
    image_dir.mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        pixels = np.full((height, width, 3), 128, dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(len(category_ids)))
            w, h = (
                int(rng.integers(width // 5, width // 2)),
                int(rng.integers(height // 5, height // 2)),
            )
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            pixels[y : y + h, x : x + w] = COLOURS[k % len(COLOURS)]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": 100 + i,
                    "category_id": int(category_ids[k]),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        fmt = formats[i % len(formats)]
        name = f"{i:04d}.{'jpg' if fmt == 'jpeg' else 'png'}"
        save_image(pixels, image_dir / name, fmt)
        file_name = f"{subfolder}/{name}" if subfolder else name
        images.append({"id": 100 + i, "file_name": file_name, "width": width, "height": height})
    categories = [{"id": int(c), "name": f"class{c}"} for c in category_ids]
    data = {"images": images, "annotations": annotations, "categories": categories}
    if edit is not None:
        edit(data)
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return root


def save_image(pixels: np.ndarray, path: Path, fmt: str) -> None:
    """Write ``pixels`` ``[H, W, 3]`` uint8 as ``fmt`` (see :func:`write_coco_folder`)."""
    image = Image.fromarray(pixels)
    if fmt == "jpeg":
        image.save(path, format="JPEG", quality=95)
    elif fmt == "gray":
        image.convert("L").save(path, format="PNG")
    elif fmt == "rgba":
        rgba = image.convert("RGBA")
        rgba.putalpha(200)
        rgba.save(path, format="PNG")
    elif fmt == "palette":
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(path, format="PNG")
    else:
        image.save(path, format="PNG")


@pytest.fixture
def coco_folder(tmp_path: Path) -> Path:
    """A COCO folder of six 96 px PNG images, category ids 7, 3, 42, in ``images/train/``."""
    return write_coco_folder(tmp_path / "coco")


def tiny_config(remover: str = "nms", **train: Any) -> DetectorConfig:
    """The ``tiny`` preset shrunk for tests: 64 px images, few anchors, proposals and RoIs, a
    narrow head, the ``remover`` method (``"e2e"`` with a small network and at most 8 boxes per
    class); ``train`` overrides :class:`TrainConfig` fields (CPU-friendly defaults: batch 2, no
    warm-up, no workers, no mixed precision, a metrics line every step)."""
    base = DetectorConfig()
    head = replace(
        base.model.head,
        hidden_dim=64,
        fc1_relations=tuple(
            replace(r, num_relations=4, key_dim=8, geo_dim=16)
            for r in base.model.head.fc1_relations
        ),
        fc2_relations=tuple(
            replace(r, num_relations=4, key_dim=8, geo_dim=16)
            for r in base.model.head.fc2_relations
        ),
    )
    model = replace(
        base.model,
        min_size=64,
        max_size=64,
        backbone=replace(base.model.backbone, fpn_channels=16, tiny_channels=(8, 16, 16, 16)),
        rpn=RPNConfig(
            anchor_sizes=(8, 16, 32, 64),
            pre_nms_top_n_train=100,
            pre_nms_top_n_test=50,
            post_nms_top_n_train=50,
            post_nms_top_n_test=30,
            batch_size_per_image=32,
        ),
        roi=replace(RoIConfig(), batch_size_per_image=16),
        head=head,
        remover=replace(
            base.model.remover,
            method=remover,
            first_n=8,
            score_threshold=0.05,
            dedup=replace(
                base.model.remover.dedup, embed_dim=32, num_relations=4, key_dim=8, geo_dim=16
            ),
        ),
    )
    defaults: dict[str, Any] = {
        "epochs": 1,
        "batch_size": 2,
        "lr": 0.01,
        "warmup_iters": 0,
        "lr_steps": (),
        "amp": False,
        "hflip": 0.5,
        "workers": 0,
        "checkpoint_every": 0,
        "log_every": 1,
    }
    defaults.update(train)
    return DetectorConfig(model=model, train=replace(TrainConfig(), **defaults))


@pytest.fixture
def tiny() -> DetectorConfig:
    """:func:`tiny_config` with its defaults."""
    return tiny_config()
