"""``tiny`` on a small real-image COCO folder nobody here designed the model for (issue 17):
scikit-learn's handwritten digits pasted on scikit-image's photographs, 10 classes, trained for
4 and for 12 epochs (the learning-rate step moving with the epochs: after epoch 3 of 4, 9 of 12),
evaluated with NMS, Soft-NMS, the end-to-end remover and the oracle::

    pip install scikit-learn scikit-image
    python packages/detector/benchmarks/real_photos.py --out runs/real-photos

The folder is ``OUT/data`` (300 train, 100 val images of 160 px); each run ``OUT/epochs-N``;
the table ``OUT/table.md``. ``--unscaled 12`` (the default) adds 12 epochs with the step
left after epoch 3, what ``relnet train --epochs 12`` did before the steps followed the epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _headline_setup import log, write_json

from relnet_detector import CocoFolder, evaluate, load_detector, train
from relnet_detector.config import load_config, with_epochs

PHOTOS = ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "moon", "page", "rocket",
          "text", "grass", "gravel", "brick", "horse", "clock", "hubble_deep_field",
          "immunohistochemistry", "retina", "colorwheel")  # fmt: skip
SIZE = 160


def photos() -> list[np.ndarray]:
    """scikit-image's bundled photographs as RGB uint8 arrays."""
    from skimage import data

    out = []
    for name in PHOTOS:
        image = np.asarray(getattr(data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out.append(image[..., :3].astype(np.uint8))
    return out


def make_folder(root: Path, train_images: int = 300, val_images: int = 100, seed: int = 0) -> Path:
    """Digits (8 x 8, upscaled to 14-36 px, ink dark on light and light on dark parts) on random
    crops of the photos."""
    from sklearn.datasets import load_digits

    if (root / "annotations" / "instances_val.json").is_file():
        return root
    digits = load_digits()
    backgrounds = photos()
    rng = np.random.default_rng(seed)
    categories = [{"id": d + 1, "name": str(d)} for d in range(10)]
    for split, count in (("train", train_images), ("val", val_images)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            photo = backgrounds[int(rng.integers(len(backgrounds)))]
            side = int(rng.integers(SIZE, min(photo.shape[:2]) + 1))
            y, x = (int(rng.integers(0, photo.shape[k] - side + 1)) for k in (0, 1))
            crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((SIZE, SIZE))
            canvas = np.asarray(crop, dtype=np.float32)
            for _ in range(int(rng.integers(2, 6))):
                k = int(rng.integers(len(digits.images)))
                size = int(rng.integers(14, 37))
                ink = np.asarray(Image.fromarray(digits.images[k] * 16).resize((size, size),
                                 Image.Resampling.BILINEAR), dtype=np.float32) / 255.0  # fmt: skip
                px, py = (int(rng.integers(0, SIZE - size)) for _ in range(2))
                region = canvas[py : py + size, px : px + size]
                colour = np.array([15.0] * 3 if region.mean() > 110 else [245.0] * 3)  # contrast
                alpha = np.clip(ink * 1.5, 0, 1)[..., None]
                canvas[py : py + size, px : px + size] = region * (1 - alpha) + colour * alpha
                ys, xs = np.nonzero(ink > 0.15)
                box = [
                    px + xs.min(),
                    py + ys.min(),
                    xs.max() - xs.min() + 1,
                    ys.max() - ys.min() + 1,
                ]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": i + 1,
                    "category_id": int(digits.target[k]) + 1, "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]), "iscrowd": 0,
                })  # fmt: skip
            name = f"{split}/{i + 1:04d}.jpg"
            Image.fromarray(canvas.clip(0, 255).astype(np.uint8)).save(root / "images" / name,
                                                                        quality=92)  # fmt: skip
            images.append({"id": i + 1, "file_name": name, "width": SIZE, "height": SIZE})
        coco = {"images": images, "annotations": annotations, "categories": categories}
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/real-photos"))
    parser.add_argument("--epochs", type=int, nargs="+", default=[4, 12])
    parser.add_argument(
        "--unscaled",
        type=int,
        nargs="*",
        default=[12],
        help="also train these epochs with tiny's steps as they are (after epoch 3: the old "
        "behaviour of --epochs)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = make_folder(args.out / "data")
    val = CocoFolder(data, "val")
    lines = [
        "| epochs | lr steps | remover | mAP | mAP50 | mAP75 |",
        "|---:|---|---|---:|---:|---:|",
    ]
    arms = [(e, None) for e in args.epochs] + [(e, (3,)) for e in args.unscaled]
    for epochs, steps in arms:
        config = with_epochs(load_config("tiny"), epochs, steps)
        run = args.out / f"epochs-{epochs}" if steps is None else args.out / f"epochs-{epochs}-old"
        if not (run / "eval.json").is_file():
            log(f"training {epochs} epochs, lr steps {list(config.train.lr_steps)}")
            train(config, data, run, resume=True, device="cpu", progress=False)
            model = load_detector(run / "checkpoint.pt", map_location="cpu").model
            base = replace(model.remover, score_threshold=0.01)
            removers = [replace(base, method=m) for m in ("nms", "soft-nms", "e2e", "oracle")]
            result = evaluate(model, val, removers, progress=False)
            write_json(run / "eval.json", result.to_dict())
        for row in json.loads((run / "eval.json").read_text())["removers"]:
            stats = row["stats"]
            lines.append(
                f"| {epochs} | {list(config.train.lr_steps)} | {row['name']} | "
                f"{100 * stats['AP']:.1f} | {100 * stats['AP50']:.1f} | {100 * stats['AP75']:.1f} |"
            )
    table = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
