"""Writes the zero-shot evaluation golden fixtures under tests/fixtures/eval/ with CLIP_benchmark itself.

Re-run from the repository root (deterministic, CPU only, a few seconds):

    .venv-ref/bin/python tools/ref/make_eval_fixtures.py

What it writes (see docs/FIXTURES.md):
  tiny8/                      a dataset in CLIP_benchmark's webdataset layout: classnames.txt (8 classes),
                              zeroshot_classification_templates.txt (2), test/nshards.txt, test/0.tar (13
                              samples) and test/1.tar (7): images of varied sizes and modes (RGB JPEG, RGB,
                              greyscale and RGBA PNG) with .cls labels; class 7 has no sample
  tiny8_expected.json         acc1, acc5, mean_per_class_recall of the tiny random CLIP
                              (tests/fixtures/clip/tiny_openclip.safetensors, config bcos-tiny) on it
  tiny8_predictions.csv       per sample, in read order: key, true label and top-5 predicted classes
  tinycap/                    a retrieval dataset (dataset_type.txt "retrieval"): test/0.tar (7) and test/1.tar
                              (5), each image with a .txt of 1 to 3 captions, one per line
  tinycap_expected.json       CLIP_benchmark's zeroshot_retrieval recalls @1, @5, @10 of the tiny CLIP on it
  tinyodd/                    tiny8's classes and templates over one shard of odd images, the committed fixture
                              files of tests/fixtures/bare_file and image (ODD_IMAGES: palette, 1-bit, grey +
                              alpha and RGBA PNG, greyscale, CMYK and YCCK JPEG, 16-bit PNG, WebP with alpha),
                              with .cls labels
  tinyodd_pixels/             what CLIP_benchmark's loader hands the model for each of them (webdataset's PIL
                              decoder converts to RGB, then open_clip's transform): a [3, 32, 32] tensor per
                              sample key (fixture_bin.py's format), its label as the key's parameter
  tinyodd_expected.json       the metrics on it, and tinyodd_predictions.csv every sample's top-5 classes

The numbers come from CLIP_benchmark's own code: build_wds_dataset (its webdataset + PIL reading, with
open_clip's evaluation transform), zero_shot_classifier and run_classification with amp off in fp32, and
its evaluate's metrics (accuracy, sklearn's balanced_accuracy_score).
"""
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file

from clip_benchmark.datasets.builder import build_wds_dataset, image_captions_collate_fn
from fixture_bin import Fixture
from clip_benchmark.metrics import zeroshot_retrieval
from clip_benchmark.metrics.zeroshot_classification import run_classification, zero_shot_classifier
from sklearn.metrics import balanced_accuracy_score

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "tests" / "fixtures" / "eval"
DATASET = OUT_DIR / "tiny8"
CLASSES = ["cat", "dog", "car", "tree", "boat", "house", "bird", "flower"]
TEMPLATES = ["a photo of a {c}.", "a blurry picture of the {c}."]
SHARD_SIZES = [13, 7]
MODES = ["RGB-jpg", "RGB-png", "L-png", "RGBA-png"]


def make_image(rng, index):
    """A smooth random picture of a random size, in one of MODES, as (extension, bytes)."""
    w, h = int(rng.integers(20, 90)), int(rng.integers(20, 90))
    y, x = np.mgrid[0:h, 0:w]
    channels = [np.sin(x / rng.uniform(3, 15) + rng.uniform(0, 6)) + np.cos(y / rng.uniform(3, 15)) for _ in range(4)]
    pixels = np.stack([(c - c.min()) / (np.ptp(c) + 1e-9) * 255 for c in channels], axis=-1).astype(np.uint8)
    mode, ext = MODES[index % len(MODES)].split("-")
    image = {"RGB": lambda: Image.fromarray(pixels[..., :3], "RGB"), "L": lambda: Image.fromarray(pixels[..., 0], "L"),
             "RGBA": lambda: Image.fromarray(pixels, "RGBA")}[mode]()
    out = io.BytesIO()
    image.save(out, format="JPEG" if ext == "jpg" else "PNG", **({"quality": 90} if ext == "jpg" else {}))
    return ext, out.getvalue()


def add_member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_dataset(rng):
    """The shards and metadata; returns [(key, label)] in read order."""
    (DATASET / "test").mkdir(parents=True, exist_ok=True)
    (DATASET / "classnames.txt").write_text("\n".join(CLASSES) + "\n")
    (DATASET / "zeroshot_classification_templates.txt").write_text("\n".join(TEMPLATES) + "\n")
    (DATASET / "test" / "nshards.txt").write_text(f"{len(SHARD_SIZES)}\n")
    samples, index = [], 0
    for shard, count in enumerate(SHARD_SIZES):
        with tarfile.open(DATASET / "test" / f"{shard}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for _ in range(count):
                key, label = f"s{index:04d}", int(rng.integers(0, len(CLASSES) - 1))  # the last class has none
                ext, data = make_image(rng, index)
                add_member(tar, f"{key}.{ext}", data)
                add_member(tar, f"{key}.cls", f"{label}\n".encode())
                samples.append((key, label))
                index += 1
    return samples


def accuracy(logits, target, topk):
    """CLIP_benchmark's accuracy() step for step; its own ends in float() of a one-element array, which NumPy 2
    refuses, so the last step takes .item() instead."""
    pred = logits.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [correct[:k].reshape(-1).float().sum().item() / len(target) for k in topk]


def tiny_clip():
    open_clip.add_model_config(REPO / "src" / "model" / "configs" / "bcos-tiny.json")
    model, _, preprocess = open_clip.create_model_and_transforms("bcos-tiny", pretrained=None)
    model.load_state_dict(load_file(REPO / "tests" / "fixtures" / "clip" / "tiny_openclip.safetensors"))
    model.eval()
    return model, preprocess, open_clip.get_tokenizer("bcos-tiny")


WORDS = ["red", "small", "dog", "car", "tree", "river", "old", "house", "bird", "sky", "blue", "boat", "on", "a"]
CAP_SHARDS = [7, 5]


def write_captioned(rng):
    """The retrieval dataset; each image gets 1 to 3 captions of 3 to 6 random words."""
    root = OUT_DIR / "tinycap"
    (root / "test").mkdir(parents=True, exist_ok=True)
    (root / "dataset_type.txt").write_text("retrieval\n")
    (root / "test" / "nshards.txt").write_text(f"{len(CAP_SHARDS)}\n")
    index = 0
    for shard, count in enumerate(CAP_SHARDS):
        with tarfile.open(root / "test" / f"{shard}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for _ in range(count):
                ext, data = make_image(rng, index)
                captions = [" ".join(rng.choice(WORDS, int(rng.integers(3, 7)))) for _ in range(int(rng.integers(1, 4)))]
                add_member(tar, f"c{index:04d}.{ext}", data)
                add_member(tar, f"c{index:04d}.txt", "\n".join(captions).encode())
                index += 1
    return root


def retrieval_golden(model, preprocess, tokenizer):
    root = write_captioned(np.random.default_rng(12))
    dataset = build_wds_dataset("tinycap", preprocess, split="test", data_dir=str(root))
    loader = torch.utils.data.DataLoader(dataset.batched(5, collation_fn=image_captions_collate_fn), batch_size=None,
                                         num_workers=0)
    metrics = zeroshot_retrieval.evaluate(model, loader, tokenizer, "cpu", amp=False, recall_k_list=[1, 5, 10])
    expected = {"dataset": "tinycap", "split": "test", "samples": sum(CAP_SHARDS), **metrics}
    (OUT_DIR / "tinycap_expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(json.dumps(expected))


def classification_golden(name, samples, model, preprocess, tokenizer):
    """CLIP_benchmark's metrics (NAME_expected.json) and per-sample top-5 classes (NAME_predictions.csv) on the
    dataset NAME, whose samples are [(key, label)] in read order."""
    dataset = build_wds_dataset(name, preprocess, split="test", data_dir=str(OUT_DIR / name))
    loader = torch.utils.data.DataLoader(dataset.batched(4), batch_size=None, num_workers=0)
    classifier = zero_shot_classifier(model, tokenizer, dataset.classes, dataset.templates, "cpu", amp=False)
    logits, target = run_classification(model, classifier, loader, "cpu", amp=False)
    assert target.tolist() == [label for _, label in samples], "CLIP_benchmark read the samples in another order"
    acc1, acc5 = accuracy(logits, target, topk=(1, 5))
    expected = {"dataset": name, "split": "test", "samples": len(samples), "acc1": acc1, "acc5": acc5,
                "mean_per_class_recall": float(balanced_accuracy_score(target, logits.argmax(axis=1)))}
    (OUT_DIR / f"{name}_expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    top5 = logits.topk(5, 1, True, True)[1].tolist()
    lines = ["key,label,top1,top2,top3,top4,top5"]
    lines += [",".join([key, str(label)] + [str(c) for c in top]) for (key, label), top in zip(samples, top5)]
    (OUT_DIR / f"{name}_predictions.csv").write_text("\n".join(lines) + "\n")
    print(json.dumps(expected))
    return dataset


# Committed fixture files (tests/fixtures/...) of the modes that webdataset's PIL decoder converts to RGB
ODD_IMAGES = [
    "bare_file/palette_150x100.png",        # palette (P)
    "bare_file/palette4_trns_45x37.png",    # 4-bit palette with a transparent entry
    "bare_file/bilevel_61x45.png",          # 1-bit
    "bare_file/la_120x90.png",              # grey + alpha (LA)
    "bare_file/rgba_120x90.png",            # RGBA
    "image/grey_320x240.jpg",               # greyscale JPEG
    "bare_file/cmyk_90x60.jpg",             # CMYK JPEG
    "bare_file/ycck_90x60.jpg",             # YCCK JPEG (PIL's CMYK)
    "bare_file/grey16_64x48.png",           # 16-bit greyscale (I;16)
    "bare_file/rgba16_64x48.png",           # 16-bit RGBA
    "bare_file/lossy_alpha_80x60.webp",     # lossy WebP with alpha
    "bare_file/lossless_alpha_97x65.webp",  # lossless WebP with alpha
]


def write_odd(rng):
    """tinyodd: ODD_IMAGES in one shard, with tiny8's classes and templates; returns [(key, label)]."""
    root = OUT_DIR / "tinyodd"
    (root / "test").mkdir(parents=True, exist_ok=True)
    for meta in ("classnames.txt", "zeroshot_classification_templates.txt"):
        (root / meta).write_text((DATASET / meta).read_text())
    (root / "test" / "nshards.txt").write_text("1\n")
    samples = []
    with tarfile.open(root / "test" / "0.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for index, image in enumerate(ODD_IMAGES):
            key, label = f"odd{index:04d}", int(rng.integers(0, len(CLASSES)))
            add_member(tar, f"{key}.{image.rsplit('.', 1)[1]}", (REPO / "tests" / "fixtures" / image).read_bytes())
            add_member(tar, f"{key}.cls", f"{label}\n".encode())
            samples.append((key, label))
    return samples


def odd_images_golden(model, preprocess, tokenizer):
    samples = write_odd(np.random.default_rng(13))
    dataset = classification_golden("tinyodd", samples, model, preprocess, tokenizer)
    fx = Fixture()
    for (key, label), (pixels, cls) in zip(samples, dataset):
        assert cls == label and pixels.shape == (3, 32, 32)
        fx.add(f"{key}.pixels", pixels)
        fx.params[key] = {"label": label}
    fx.write(str(OUT_DIR / "tinyodd_pixels"), "pixels.bin")


def main():
    torch.manual_seed(0)
    samples = write_dataset(np.random.default_rng(11))
    model, preprocess, tokenizer = tiny_clip()
    classification_golden("tiny8", samples, model, preprocess, tokenizer)
    retrieval_golden(model, preprocess, tokenizer)
    odd_images_golden(model, preprocess, tokenizer)


if __name__ == "__main__":
    main()
