"""The built-in synthetic relation benchmark: a COCO folder where relations between objects matter.

Relation Networks (Hu et al., CVPR 2018) claim that objects help recognise each other (§4.2) and
that duplicates are told apart by their relations (§4.3). This generator writes a small set that
tests both on a laptop CPU (design and sources: the detector package's
``docs/benchmark-design.md``; the classes, rules and a picture: its README, "The built-in
benchmark"):

- context classes: ``star_token`` and ``hexagon_token`` are the same bullseye, pixel for pixel; a
  token takes the type of its nearest anchor (a large ``star`` or ``hexagon``), which is always
  farther than ``context_min_gap`` pixels (edge to edge), outside what the RoI feature of a small
  CNN sees, and usually shares the image with an anchor of the other type;
- plain classes (``ellipse``, ``rectangle``, ``triangle``, ``cross`` and the anchors) that
  appearance decides; about half of the four plain shapes come in crowd groups of 2-3 same-class
  shapes at pairwise IoU 0.4-0.7, which greedy NMS at 0.5 cannot keep apart;
- one colour palette for every class, uniform placement, varied scale and aspect ratio, clutter,
  partial occlusion, 5-12 objects per image and a few empty images.

Each image is drawn from its own generator seeded by ``(seed, split, image id)``, so the bytes do
not depend on the number of worker processes.

Example:
    >>> from relnet_detector.datasets.synthetic import SyntheticConfig, generate_synthetic
    >>> config = SyntheticConfig(train=20, val=10)
    >>> root = generate_synthetic("/tmp/relnet-demo", config)  # doctest: +SKIP
    >>> sorted(p.name for p in (root / "annotations").iterdir())  # doctest: +SKIP
    ['instances_train.json', 'instances_val.json']
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ._cache import MARKER as MARKER_FILE
from ._cache import (
    default_data_dir,
    file_lock,
    is_complete,
    platform_cache_dir,
    publish,
    temp_sibling,
)
from ._coco import coco_categories, coco_split
from ._config import CATEGORIES, Category, SyntheticConfig
from ._placement import sample_scene
from ._render import render_scene
from ._samples import draw_samples
from ._scene import Scene

GENERATOR_VERSION = 1
"""Bump whenever the output for a given config changes: cached sets regenerate."""

SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 0, "val": 1}


def image_rng(seed: int, split: str, image_id: int) -> np.random.Generator:
    """The generator that draws image ``image_id`` (1-based) of ``split``."""
    return np.random.default_rng([seed, _SPLIT_CODE[split], image_id])


def make_image(config: SyntheticConfig, split: str, image_id: int) -> tuple[Scene, np.ndarray]:
    """Layout and pixels (``uint8 [H, W, 3]``) of one image, exactly as the generator writes it."""
    rng = image_rng(config.seed, split, image_id)
    width, height = (int(v) for v in rng.integers(config.min_size, config.max_size + 1, size=2))
    scene = sample_scene(rng, width, height, config)
    return scene, render_scene(rng, scene, config)


def _write_image(task: tuple[SyntheticConfig, str, int, str]) -> Scene:
    config, split, image_id, images_dir = task
    scene, pixels = make_image(config, split, image_id)
    Image.fromarray(pixels).save(
        Path(images_dir) / split / f"{image_id:06d}.png", format="PNG", compress_level=1
    )
    return scene


def marker(config: SyntheticConfig) -> dict[str, Any]:
    """Content of the marker file written beside ``annotations/``: generator version and config."""
    return {
        "generator": "relnet_detector.datasets.synthetic",
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
    }


def _default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _scenes(tasks: list[tuple[SyntheticConfig, str, int, str]], workers: int) -> Iterator[Scene]:
    if workers <= 1 or len(tasks) < 64:
        yield from map(_write_image, tasks)
        return
    # Linux: fork, like torch's DataLoader workers; the workers inherit the imported modules and
    # use only numpy and PIL. Elsewhere spawn, which imports relnet_detector (and torch) again.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_write_image, tasks, chunksize=32)


def _track(items: Iterable[Scene], total: int, progress: bool) -> Iterator[Scene]:
    if not progress:
        yield from items
        return
    from rich.progress import track

    yield from track(items, total=total, description="relnet: generating synthetic data")


def generate_synthetic(
    out_dir: str | os.PathLike[str],
    config: SyntheticConfig = SyntheticConfig(),  # noqa: B008 (frozen, immutable)
    *,
    progress: bool = False,
    workers: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the benchmark as a COCO folder.

    Layout: ``out_dir/images/{train,val}/NNNNNN.png``,
    ``out_dir/annotations/instances_{train,val}.json`` (``file_name`` relative to ``images/``,
    e.g. ``"train/000123.png"``) and the marker ``out_dir/synthetic.json`` (generator version and
    config). Everything is written into a hidden sibling folder first and renamed into place at
    the end, so an interrupted run leaves no half-written ``out_dir``. The bytes depend only on
    ``config`` and :data:`GENERATOR_VERSION`.

    Args:
        out_dir: the folder to create; an existing empty folder is fine.
        config: what to generate.
        progress: show a progress bar (rich).
        workers: processes drawing images; default: the usable cores, at most 8. ``1`` (or a
            set under 64 images) draws in this process.
        overwrite: replace an existing non-empty ``out_dir``.

    Returns:
        ``out_dir`` as an absolute :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty, and ``overwrite`` is False.
        ValueError: ``workers`` is not a positive int.
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    folder = Path(out_dir).expanduser().absolute()
    if folder.exists() and not overwrite and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder}: exists and is not empty (pass overwrite=True)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(folder, "tmp")
    try:
        for split in SPLITS:
            (tmp / "images" / split).mkdir(parents=True)
        (tmp / "annotations").mkdir()
        counts = {"train": config.train, "val": config.val}
        tasks = [
            (config, s, i, str(tmp / "images")) for s in SPLITS for i in range(1, counts[s] + 1)
        ]
        scenes = list(_track(_scenes(tasks, workers or _default_workers()), len(tasks), progress))
        for split in SPLITS:
            part = scenes[: counts[split]] if split == "train" else scenes[counts["train"] :]
            data = coco_split(split, part, config, GENERATOR_VERSION)
            text = json.dumps(data, separators=(",", ":"))
            (tmp / "annotations" / f"instances_{split}.json").write_text(text, encoding="utf-8")
        (tmp / MARKER_FILE).write_text(
            json.dumps(marker(config), indent=2) + "\n", encoding="utf-8"
        )
        publish(tmp, folder, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def dataset_dir_name(config: SyntheticConfig) -> str:
    """``synthetic-v{GENERATOR_VERSION}-seed{seed}``, plus a hash of any non-default field."""
    name = f"synthetic-v{GENERATOR_VERSION}-seed{config.seed}"
    rest = {k: v for k, v in asdict(config).items() if k != "seed"}
    default = {k: v for k, v in asdict(SyntheticConfig()).items() if k != "seed"}
    if rest != default:
        digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()
        name += f"-{digest[:8]}"
    return name


def ensure_synthetic(
    config: SyntheticConfig = SyntheticConfig(),  # noqa: B008 (frozen, immutable)
    *,
    data_dir: str | os.PathLike[str] | None = None,
    wait_only: bool = False,
    timeout: float = 1800.0,
    progress: bool = False,
    workers: int | None = None,
) -> Path:
    """The folder of the benchmark for ``config`` in the cache, generated on first use.

    The folder is ``data_dir / dataset_dir_name(config)`` (``data_dir`` defaults to
    :func:`default_data_dir`: ``$RELNET_DATA_DIR``, else the platform cache folder). A folder whose
    marker names another generator version or config is generated again. Concurrent callers are
    safe: generation runs under an inter-process lock and is published by one atomic rename.

    Under ``torchrun``, call it with ``wait_only=(rank != 0)`` (or ``LOCAL_RANK != 0`` where nodes
    have their own cache): rank 0 generates, the others poll until the finished folder appears.

    Args:
        config: what to generate.
        data_dir: root folder of the cache.
        wait_only: never generate; wait until another process has.
        timeout: seconds to wait for the lock or, with ``wait_only``, for the data.
        progress: show a progress bar while generating.
        workers: see :func:`generate_synthetic`.

    Returns:
        The dataset folder (a COCO folder as written by :func:`generate_synthetic`).

    Raises:
        TimeoutError: nothing appeared (``wait_only``) or the lock stayed held for ``timeout`` s.
    """
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder = (root / dataset_dir_name(config)).absolute()
    expected = marker(config)
    if is_complete(folder, expected):
        return folder
    if wait_only:
        deadline = time.monotonic() + timeout
        while not is_complete(folder, expected):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{folder}: not generated within {timeout:.0f} s "
                    "(is a process running ensure_synthetic without wait_only?)"
                )
            time.sleep(0.5)
        return folder
    with file_lock(root / f".{folder.name}.lock", timeout):
        if not is_complete(folder, expected):
            for stale in root.glob(f".{folder.name}.tmp-*"):  # left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            try:  # overwrite only a stale set; never a finished one published meanwhile
                generate_synthetic(
                    folder, config, progress=progress, workers=workers, overwrite=folder.exists()
                )
            except OSError:  # another machine (a shared file system without locks) was faster
                if not is_complete(folder, expected):
                    raise
    return folder


__all__ = [
    "CATEGORIES",
    "GENERATOR_VERSION",
    "MARKER_FILE",
    "Category",
    "SyntheticConfig",
    "coco_categories",
    "dataset_dir_name",
    "default_data_dir",
    "draw_samples",
    "ensure_synthetic",
    "generate_synthetic",
    "make_image",
    "platform_cache_dir",
]
