"""The built-in synthetic benchmark: layout, determinism, COCO validity, documented properties."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import re
import threading
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from relnet_detector.datasets import synthetic
from relnet_detector.datasets.synthetic import (
    SyntheticConfig,
    dataset_dir_name,
    default_data_dir,
    ensure_synthetic,
    generate_synthetic,
    image_rng,
)
from relnet_detector.datasets.synthetic._config import CATEGORY_BY_ID, TOKEN_OF_ANCHOR
from relnet_detector.datasets.synthetic._placement import sample_scene
from relnet_detector.datasets.synthetic._render import render_scene
from relnet_detector.datasets.synthetic._scene import PALETTE, Scene, SceneObject

SMALL = SyntheticConfig(seed=3, train=60, val=20, empty_fraction=0.1)
TINY = SyntheticConfig(seed=1, train=3, val=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synth") / "data", SMALL, workers=1)


def load(root: Path, split: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / "annotations" / f"instances_{split}.json").read_text()
    )
    return data


def by_image(coco: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = {int(im["id"]): [] for im in coco["images"]}
    for ann in coco["annotations"]:
        groups[ann["image_id"]].append(ann)
    return groups


def xyxy(ann: dict[str, Any]) -> tuple[float, float, float, float]:
    x, y, w, h = ann["bbox"]
    return (x, y, x + w, y + h)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def gap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return math.hypot(max(0.0, b[0] - a[2], a[0] - b[2]), max(0.0, b[1] - a[3], a[1] - b[3]))


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- configuration ---------------------------------------------------------------------------


def test_defaults_are_the_documented_benchmark() -> None:
    config = SyntheticConfig()
    assert (config.seed, config.train, config.val) == (0, 2000, 500)
    assert (config.min_size, config.max_size, config.min_objects, config.max_objects) == (
        128,
        160,
        5,
        12,
    )
    assert config.crowd_iou == (0.4, 0.7)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"train": -5}, "train"),
        ({"val": 1.5}, "val"),
        ({"train": True}, "train"),
        ({"min_size": 40}, "min_size"),
        ({"max_size": 120}, "max_size"),
        ({"max_objects": 3}, "max_objects"),
        ({"empty_fraction": 1.5}, "empty_fraction"),
        ({"context_min_gap": -1.0}, "context_min_gap"),
        ({"context_max_gap": 20.0}, "context_max_gap"),
        ({"crowd_fraction": float("nan")}, "crowd_fraction"),
        ({"crowd_iou": (0.7, 0.4)}, "crowd_iou"),
        ({"crowd_iou": (0.4,)}, "crowd_iou"),
        ({"max_occlusion": 0.8}, "max_occlusion"),
        ({"clutter": (4, 1)}, "clutter"),
        ({"noise_std": "loud"}, "noise_std"),
    ],
)
def test_bad_config_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"SyntheticConfig\.{field} must be"):
        SyntheticConfig(**changes)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_bad_worker_count(workers: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers"):
        generate_synthetic(tmp_path / "out", TINY, workers=workers)
    assert not (tmp_path / "out").exists()


def test_lists_from_toml_become_tuples() -> None:
    config = SyntheticConfig(crowd_iou=[0.45, 0.65], clutter=[0, 2])  # type: ignore[arg-type]
    assert config.crowd_iou == (0.45, 0.65)
    assert config.clutter == (0, 2)
    assert hash(config) == hash(SyntheticConfig(crowd_iou=(0.45, 0.65), clutter=(0, 2)))


# --- layout, determinism, COCO ---------------------------------------------------------------


def test_coco_folder_layout(data: Path) -> None:
    assert (
        json.loads((data / synthetic.MARKER_FILE).read_text())["generator_version"]
        == synthetic.GENERATOR_VERSION
    )
    for split, count in (("train", SMALL.train), ("val", SMALL.val)):
        coco = load(data, split)
        assert [im["id"] for im in coco["images"]] == list(range(1, count + 1))
        assert len(list((data / "images" / split).glob("*.png"))) == count
        for image in coco["images"]:
            assert image["file_name"] == f"{split}/{image['id']:06d}.png"
            with Image.open(data / "images" / image["file_name"]) as png:
                assert png.size == (image["width"], image["height"])
                assert png.mode == "RGB"
            assert SMALL.min_size <= image["width"] <= SMALL.max_size
            assert SMALL.min_size <= image["height"] <= SMALL.max_size
    assert not list(data.parent.glob(".*")), "no temporary folder left beside the output"


def test_same_seed_same_bytes_whatever_the_workers(data: Path, tmp_path: Path) -> None:
    again = generate_synthetic(tmp_path / "again", SMALL, workers=2)  # 80 images: a process pool
    assert all_files(again) == all_files(data)


def test_images_depend_on_seed_and_id_only(data: Path, tmp_path: Path) -> None:
    fewer = generate_synthetic(tmp_path / "fewer", replace(SMALL, train=4, val=2), workers=1)
    other = generate_synthetic(
        tmp_path / "other", replace(SMALL, seed=4, train=4, val=2), workers=1
    )
    for name in ("train/000001.png", "train/000004.png", "val/000002.png"):
        assert (fewer / "images" / name).read_bytes() == (data / "images" / name).read_bytes()
        assert (other / "images" / name).read_bytes() != (data / "images" / name).read_bytes()
    assert load(other, "train")["annotations"] != load(fewer, "train")["annotations"]


def test_ground_truth_as_results_scores_map_one_in_pycocotools(data: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(data / "annotations" / "instances_val.json"))
        results = [
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "bbox": a["bbox"],
                "score": 1.0,
            }
            for a in gt.dataset["annotations"]
        ]
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # mAP@[.5:.95]
    assert evaluator.stats[1] == pytest.approx(1.0)  # AP50
    assert evaluator.stats[2] == pytest.approx(1.0)  # AP75


def test_categories_are_non_contiguous_and_typed(data: Path) -> None:
    categories = load(data, "train")["categories"]
    ids = [c["id"] for c in categories]
    assert len(ids) == 8
    assert min(ids) > 1
    assert ids != list(range(min(ids), min(ids) + len(ids)))
    assert len({c["name"] for c in categories}) == len(ids)
    kinds = {c["name"]: (c["relnet_kind"], c["relnet_role"]) for c in categories}
    assert {n for n, (k, _) in kinds.items() if k == "context"} == {"star_token", "hexagon_token"}
    assert {n for n, (_, r) in kinds.items() if r == "anchor"} == {"star", "hexagon"}
    used = {a["category_id"] for s in ("train", "val") for a in load(data, s)["annotations"]}
    assert used == set(ids)


def test_boxes_inside_images_with_positive_size(data: Path) -> None:
    for split in ("train", "val"):
        coco = load(data, split)
        sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
        ann_ids = [a["id"] for a in coco["annotations"]]
        assert len(set(ann_ids)) == len(ann_ids)
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            width, height = sizes[ann["image_id"]]
            assert min(w, h) > 0
            assert min(x, y) >= 0
            assert x + w <= width + 1e-6
            assert y + h <= height + 1e-6
            assert ann["area"] == pytest.approx(w * h, abs=0.01)
            assert ann["iscrowd"] == 0


def test_object_counts_and_empty_images(data: Path) -> None:
    counts = [len(anns) for s in ("train", "val") for anns in by_image(load(data, s)).values()]
    empty = counts.count(0)
    assert 1 <= empty <= 0.3 * len(counts)
    assert all(SMALL.min_objects <= n <= SMALL.max_objects for n in counts if n)
    assert max(counts) >= 10


@pytest.mark.parametrize(("low", "high"), [(1, 1), (1, 3), (2, 2), (20, 24)])
def test_object_count_bounds_hold_for_any_range(low: int, high: int) -> None:
    config = SyntheticConfig(min_objects=low, max_objects=high, empty_fraction=0.0)
    for image_id in range(1, 16):
        scene = sample_scene(image_rng(0, "train", image_id), 128, 128, config)
        assert low <= len(scene.objects) <= high


# --- crowds ----------------------------------------------------------------------------------


def test_crowd_groups_overlap_within_the_iou_range(data: Path) -> None:
    low, high = SMALL.crowd_iou
    ceiling = SMALL.max_occlusion / (2 - SMALL.max_occlusion)
    in_groups = shapes = 0
    for split in ("train", "val"):
        for anns in by_image(load(data, split)).values():
            groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for ann in anns:
                if ann["relnet"]["crowd_group"] is not None:
                    groups[ann["relnet"]["crowd_group"]].append(ann)
                if ann["relnet"]["role"] == "shape":
                    shapes += 1
                    in_groups += ann["relnet"]["crowd_group"] is not None
                others = [iou(xyxy(ann), xyxy(b)) for b in anns if b is not ann]
                assert ann["relnet"]["max_gt_iou"] == pytest.approx(
                    max(others, default=0.0), abs=1e-3
                )
            for members in groups.values():
                assert 2 <= len(members) <= 3
                assert len({m["category_id"] for m in members}) == 1
                assert members[0]["relnet"]["role"] == "shape"
                for a, b in itertools.combinations(members, 2):
                    assert low - 1e-3 <= iou(xyxy(a), xyxy(b)) <= high + 1e-3
            for a, b in itertools.combinations(anns, 2):
                same = (
                    a["relnet"]["crowd_group"] is not None
                    and a["relnet"]["crowd_group"] == b["relnet"]["crowd_group"]
                )
                if not same:
                    assert iou(xyxy(a), xyxy(b)) <= ceiling + 1e-3 < low
    assert 0.3 <= in_groups / shapes <= 0.7


# --- context ---------------------------------------------------------------------------------


def test_token_class_is_the_type_of_its_nearest_anchor_beyond_the_gap(data: Path) -> None:
    token_of = {CATEGORY_BY_ID[a].name: CATEGORY_BY_ID[t].name for a, t in TOKEN_OF_ANCHOR.items()}
    mixed = tokens = 0
    for split in ("train", "val"):
        coco = load(data, split)
        names = {c["id"]: c["name"] for c in coco["categories"]}
        for anns in by_image(coco).values():
            anchors = [a for a in anns if a["relnet"]["role"] == "anchor"]
            found = set()
            for tok in (a for a in anns if a["relnet"]["role"] == "token"):
                tokens += 1
                gaps = sorted((gap(xyxy(tok), xyxy(a)), a["id"], a) for a in anchors)
                own_gap, own_id, own = gaps[0]
                assert tok["relnet"]["context_anchor"] == own_id
                assert names[tok["category_id"]] == token_of[names[own["category_id"]]]
                assert SMALL.context_min_gap <= own_gap <= SMALL.context_max_gap + 1e-6
                assert tok["relnet"]["context_gap"] == pytest.approx(own_gap, abs=0.02)
                assert all(g >= own_gap + SMALL.context_margin - 1e-6 for g, _, _ in gaps[1:])
                centre = [math.dist(center(tok), center(a)) for _, _, a in gaps]
                assert centre[0] == min(centre)
                found.add(tok["category_id"])
            mixed += len(found) == 2
    assert tokens >= 60
    assert mixed >= 3, "both token classes in one image: a per-object rule, not a per-image cue"


def center(ann: dict[str, Any]) -> tuple[float, float]:
    x, y, w, h = ann["bbox"]
    return (x + w / 2, y + h / 2)


def test_token_classes_are_pixel_identical_alone() -> None:
    config = replace(SMALL, noise_std=0.0)
    base = SceneObject(
        17, "bullseye", 40.0, 50.0, 14.0, 14.0, 0.0, (200, 60, 50), (33.0, 43.0, 47.0, 57.0)
    )
    other = SceneObject(
        2, "ellipse", 40.0, 50.0, 14.0, 14.0, 0.0, (200, 60, 50), (33.0, 43.0, 47.0, 57.0)
    )
    crops = []
    for obj in (base, replace(base, category_id=19), other):
        pixels = render_scene(np.random.default_rng(7), Scene(128, 128, (obj,)), config)
        crops.append(pixels[40:61, 30:51])
    assert np.array_equal(crops[0], crops[1])
    assert not np.array_equal(crops[0], crops[2])  # the comparison can fail


@pytest.mark.parametrize("image_id", [1, 2, 3, 5, 8])
def test_swapping_token_labels_changes_no_pixel(data: Path, image_id: int) -> None:
    rng = image_rng(SMALL.seed, "train", image_id)
    width, height = (int(v) for v in rng.integers(SMALL.min_size, SMALL.max_size + 1, size=2))
    scene = sample_scene(rng, width, height, SMALL)
    state = rng.bit_generator.state
    pixels = render_scene(rng, scene, SMALL)
    assert np.array_equal(
        pixels, np.asarray(Image.open(data / "images" / f"train/{image_id:06d}.png"))
    )
    swap = {17: 19, 19: 17}
    swapped = Scene(
        width,
        height,
        tuple(
            replace(o, category_id=swap.get(o.category_id, o.category_id)) for o in scene.objects
        ),
    )
    rng.bit_generator.state = state
    assert np.array_equal(render_scene(rng, swapped, SMALL), pixels)


# --- appearance ------------------------------------------------------------------------------


def test_boxes_are_tight_around_the_drawn_shape() -> None:
    clean = replace(SMALL, noise_std=0.0, clutter=(0, 0))
    checked: dict[str, int] = defaultdict(int)
    for image_id in range(1, 40):
        rng = image_rng(SMALL.seed, "train", image_id)
        scene = sample_scene(rng, 150, 140, SMALL)
        for obj in scene.objects:
            if checked[obj.shape] >= 3:
                continue
            empty = render_scene(np.random.default_rng(0), Scene(150, 140, ()), clean).astype(int)
            drawn = render_scene(np.random.default_rng(0), Scene(150, 140, (obj,)), clean).astype(
                int
            )
            rows, cols = np.nonzero(np.abs(drawn - empty).max(axis=2) > 2)
            x1, y1, x2, y2 = obj.box
            drawn_box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            inner = (math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))
            assert all(d >= b for d, b in zip(drawn_box[:2], inner[:2], strict=True)), obj.shape
            assert all(d <= b for d, b in zip(drawn_box[2:], inner[2:], strict=True)), obj.shape
            assert np.abs(np.subtract(drawn_box, obj.box)).max() <= 1.5, obj.shape
            checked[obj.shape] += 1
    assert set(checked) == {
        "ellipse",
        "rectangle",
        "triangle",
        "cross",
        "star",
        "hexagon",
        "bullseye",
    }


def test_every_class_draws_its_colour_from_the_one_palette() -> None:
    used: dict[int, set[int]] = defaultdict(set)
    for image_id in range(1, 120):
        rng = image_rng(11, "train", image_id)
        for obj in sample_scene(rng, 150, 150, SyntheticConfig()).objects:
            distance = np.abs(PALETTE - np.asarray(obj.color)).max(axis=1)
            assert distance.min() <= 20
            used[obj.category_id].add(int(distance.argmin()))
    assert set(used) == set(CATEGORY_BY_ID)
    assert all(len(indices) >= len(PALETTE) - 2 for indices in used.values())


# --- cache -----------------------------------------------------------------------------------


def test_data_dir_env_override_and_platform_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RELNET_DATA_DIR", str(tmp_path / "override"))
    assert default_data_dir() == tmp_path / "override"
    monkeypatch.delenv("RELNET_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "relnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == tmp_path / ".cache" / "relnet"
    monkeypatch.setattr("sys.platform", "darwin")
    assert default_data_dir() == tmp_path / "Library" / "Caches" / "relnet"
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_data_dir() == tmp_path / "local" / "relnet"


def test_folder_name_holds_version_and_seed() -> None:
    assert (
        dataset_dir_name(SyntheticConfig(seed=5))
        == f"synthetic-v{synthetic.GENERATOR_VERSION}-seed5"
    )
    name = dataset_dir_name(TINY)
    assert name.startswith(f"synthetic-v{synthetic.GENERATOR_VERSION}-seed1-")
    assert name != dataset_dir_name(replace(TINY, val=3))


def counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    original = synthetic.generate_synthetic

    def wrapper(out_dir: Path, *args: Any, **kwargs: Any) -> Path:
        calls.append(Path(out_dir))
        return original(out_dir, *args, **kwargs)

    monkeypatch.setattr(synthetic, "generate_synthetic", wrapper)
    return calls


def test_ensure_generates_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RELNET_DATA_DIR", str(tmp_path))
    calls = counting(monkeypatch)
    first = ensure_synthetic(TINY)
    assert first == tmp_path / dataset_dir_name(TINY)
    assert (first / "annotations" / "instances_val.json").is_file()
    assert ensure_synthetic(TINY) == first
    assert ensure_synthetic(TINY, wait_only=True, timeout=0.1) == first
    assert calls == [first]


def test_ensure_regenerates_when_the_version_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = counting(monkeypatch)
    old = ensure_synthetic(TINY, data_dir=tmp_path)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    new = ensure_synthetic(TINY, data_dir=tmp_path)
    assert new != old
    assert f"-v{synthetic.GENERATOR_VERSION}-" in new.name
    assert (
        json.loads((new / synthetic.MARKER_FILE).read_text())["generator_version"]
        == synthetic.GENERATOR_VERSION
    )
    # a folder of the current name whose marker names another version is generated again
    marker = json.loads((new / synthetic.MARKER_FILE).read_text())
    (new / synthetic.MARKER_FILE).write_text(json.dumps({**marker, "generator_version": 0}))
    assert ensure_synthetic(TINY, data_dir=tmp_path) == new
    assert json.loads((new / synthetic.MARKER_FILE).read_text()) == marker
    assert calls == [old, new, new]


def test_ensure_keeps_a_set_published_meanwhile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = synthetic.generate_synthetic

    def racing(out_dir: Path, config: SyntheticConfig, **kwargs: Any) -> Path:
        original(out_dir, config, workers=1)  # another machine finishes first
        marker = (Path(out_dir) / synthetic.MARKER_FILE).read_bytes()
        try:
            return original(out_dir, config, **kwargs)  # then ours finds the folder taken
        finally:
            assert (Path(out_dir) / synthetic.MARKER_FILE).read_bytes() == marker

    monkeypatch.setattr(synthetic, "generate_synthetic", racing)
    folder = ensure_synthetic(TINY, data_dir=tmp_path)
    assert (folder / "annotations" / "instances_train.json").is_file()


def test_wait_only_never_generates(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match=dataset_dir_name(TINY)):
        ensure_synthetic(TINY, data_dir=tmp_path, wait_only=True, timeout=0.2)
    assert not (tmp_path / dataset_dir_name(TINY)).exists()


def test_concurrent_callers_generate_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = counting(monkeypatch)
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda w=w: results.append(
                ensure_synthetic(TINY, data_dir=tmp_path, wait_only=w)
            )
        )
        for w in (False, False, True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert len(set(results)) == 1
    assert len(calls) == 1


def test_interrupted_generation_leaves_no_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boom(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "coco_split", boom)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic(tmp_path / "out", TINY, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="out"):
        generate_synthetic(out, TINY, workers=1)
    assert (out / "precious.txt").read_text() == "keep"
    generate_synthetic(out, TINY, workers=1, overwrite=True)
    assert not (out / "precious.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- picture ---------------------------------------------------------------------------------


def test_draw_samples_and_torchvision_reads_the_folder(data: Path, tmp_path: Path) -> None:
    from torchvision.datasets import CocoDetection

    out = synthetic.draw_samples(data, tmp_path / "docs" / "grid.png", n=3, columns=3, scale=2)
    with Image.open(out) as grid:
        assert grid.width > 3 * SMALL.min_size * 2
        assert grid.height >= SMALL.min_size * 2
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = CocoDetection(
            str(data / "images"), str(data / "annotations" / "instances_val.json")
        )
    image, target = dataset[0]
    assert image.size == (
        dataset.coco.imgs[dataset.ids[0]]["width"],
        dataset.coco.imgs[dataset.ids[0]]["height"],
    )
    assert all("relnet" in t for t in target)


def test_readme_benchmark_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text(encoding="utf-8").split("## The built-in benchmark", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(readme), "exec"), namespace)
    assert (tmp_path / "synth-small" / "annotations" / "instances_val.json").is_file()
    assert (tmp_path / "synth-small.png").is_file()
