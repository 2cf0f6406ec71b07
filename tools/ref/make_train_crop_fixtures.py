"""Training-crop and fast-decoding fixtures: what torchvision and PIL give.

Writes tests/fixtures/train_crop/index.json and raw uint8/float32 .bin files:

- "geometry": RandomResizedCrop.get_params(img, scale, ratio) of torchvision after torch.manual_seed(seed),
  for many image sizes, scales, ratios and seeds, with the draws it consumed: each float draw as the 24-bit
  integer k that torch's generator produced (the value is fmaf(k / 2^24, hi - lo, lo) in float32, one
  rounding, which is asserted here for every draw), each torch.randint(0, n) as n and its value. The draws are recorded by a
  re-implementation of get_params that makes the same torch calls in the same order; every case asserts
  that it returns torchvision's box. The C test replays the draws into its own geometry. torch's float32
  log and exp can be an ulp off the correctly rounded values the C code uses (log(3/4) is); index.json
  counts how often, and the boxes must agree anyway.
- "crops": torchvision's F.resized_crop(img, top, left, h, w, [S, S], BICUBIC), then F.hflip when flip,
  on PIL's Image.open(f).convert("RGB") of fixture images of tests/fixtures/image, for drawn boxes and edge
  boxes (whole image, a 1x1 corner, a thin strip, upsampling); uint8 SxSx3, and at S = 32 the tensor of
  ToTensor + Normalize with OpenAI CLIP's mean and std.
- "drafts": PIL's Image.draft("RGB", (w, h)) then convert("RGB") of fixture JPEGs (libjpeg's DCT scaling
  by 1/2, 1/4, 1/8), its size and pixels; and "fast_eval": open_clip's image_transform(S, is_train=False)
  applied to the image drafted for (ceil(3S/4), ceil(3S/4)), as our fast mode decodes for a model input S,
  the uint8 crop before ToTensor and the tensor; some cases draft below S, so the resize enlarges.
- "tall_eval": torchvision's Resize(S, BICUBIC) and CenterCrop(S) of a tall picture (tall_90x400.png,
  written here) that Pillow 13 resizes vertically first.

Every array has its CRC-32 (zlib) in index.json; those up to RAW_LIMIT bytes are also written raw, so that
the C test can report the largest difference.

Deterministic. Re-run from the repository root with
    .venv-ref/bin/python tools/ref/make_train_crop_fixtures.py
(needs torch, torchvision, pillow, numpy, open_clip_torch).
"""
import json
import math
import os
import zlib
from fractions import Fraction

import numpy as np
import open_clip
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F
from torchvision.transforms import transforms as T

OUT = "tests/fixtures/train_crop"
IMAGES = "tests/fixtures/image"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
F32 = np.float32
RAW_LIMIT = 48 * 1024  # larger arrays keep only their CRC-32


def fused_multiply_add_f32(a, b, c):
    """a * b + c rounded once to float32 (C's fmaf): how torch's CPU uniform_ maps a draw onto [lo, hi)."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    near = F32(float(exact))
    candidates = (np.nextafter(near, F32(-np.inf)), near, np.nextafter(near, F32(np.inf)))
    return float(min(candidates, key=lambda x: (abs(Fraction(float(x)) - exact), int(x.view(np.uint32)) & 1)))


class TorchDraws:
    """The draws get_params makes from torch's global generator, recorded as they are made."""

    def __init__(self):
        self.log = []

    def uniform(self, lo, hi):
        state = torch.get_rng_state()
        unit = torch.empty(1).uniform_(0, 1).item()
        torch.set_rng_state(state)
        value = torch.empty(1).uniform_(lo, hi).item()
        k = int(unit * 2**24)
        assert k / 2**24 == unit and 0 <= k < 2**24
        assert value == fused_multiply_add_f32(unit, float(F32(hi) - F32(lo)), float(F32(lo))), "torch's uniform_"
        self.log.append({"unit": k})
        return value

    def randint(self, n):
        value = torch.randint(0, n, size=(1,)).item()
        self.log.append({"n": n, "value": value})
        return value


# torch's float32 log and exp (SLEEF on this CPU) may be an ulp off the correctly rounded value, which
# the C code computes; count where they differ, so the fixture says how often the draws can differ.
ULP_DIFFERENCES = {"log": 0, "exp": 0, "calls": 0}


def log_f32(x):
    value = torch.log(torch.tensor([x], dtype=torch.float32)).item()
    ULP_DIFFERENCES["log"] += value != float(F32(math.log(float(F32(x)))))
    return value


def exp_f32(x):
    value = torch.exp(torch.tensor([x], dtype=torch.float32)).item()
    ULP_DIFFERENCES["exp"] += value != float(F32(math.exp(x)))
    ULP_DIFFERENCES["calls"] += 1
    return value


def replayed_get_params(width, height, scale, ratio, draws):
    """torchvision's RandomResizedCrop.get_params, step by step, drawing through draws."""
    area = height * width
    log_lo, log_hi = (log_f32(r) for r in ratio)  # torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * draws.uniform(scale[0], scale[1])
        aspect_ratio = exp_f32(draws.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = draws.randint(height - h + 1)
            j = draws.randint(width - w + 1)
            return i, j, h, w, "drawn"
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h, how = width, int(round(width / min(ratio))), "fallback_narrow"
    elif in_ratio > max(ratio):
        h, w, how = height, int(round(height * max(ratio))), "fallback_wide"
    else:
        w, h, how = width, height, "fallback_whole"
    return (height - h) // 2, (width - w) // 2, h, w, how


def geometry_cases():
    sizes = [(500, 375), (375, 500), (1200, 800), (4000, 3000), (32, 32), (224, 224), (301, 257), (1000, 50),
             (50, 1000), (7, 9), (2, 2), (1, 1)]
    settings = [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.9, 1.0), (3 / 4, 4 / 3)), ((0.01, 0.05), (3 / 4, 4 / 3)),
                ((0.5, 0.5), (0.5, 2.0)), ((1.0, 1.0), (3 / 4, 4 / 3))]
    cases, kinds = [], {}
    for width, height in sizes:
        image = torch.empty(3, 1, 1).expand(3, height, width)
        for scale, ratio in settings:
            for seed in range(8):
                torch.manual_seed(seed)
                expected = T.RandomResizedCrop.get_params(image, list(scale), list(ratio))
                torch.manual_seed(seed)
                draws = TorchDraws()
                *got, how = replayed_get_params(width, height, scale, ratio, draws)
                assert tuple(got) == tuple(expected), (width, height, scale, ratio, seed, got, expected)
                kinds[how] = kinds.get(how, 0) + 1
                top, left, h, w = expected
                cases.append({"width": width, "height": height, "scale": list(scale), "ratio": list(ratio),
                              "seed": seed, "draws": draws.log, "box": [left, top, w, h], "how": how})
    assert all(kinds.get(k, 0) > 0 for k in ("drawn", "fallback_narrow", "fallback_wide", "fallback_whole")), kinds
    return cases, kinds


def rgb(name):
    with Image.open(os.path.join(IMAGES, name)) as im:
        return im.convert("RGB")


def save(stem, array):
    """The array's CRC-32 and size, and its little-endian bytes in a file when at most RAW_LIMIT."""
    array = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<")))
    entry = {"bytes": array.nbytes, "crc32": zlib.crc32(array.tobytes()) & 0xFFFFFFFF}
    if array.nbytes <= RAW_LIMIT:
        with open(os.path.join(OUT, stem), "wb") as f:
            f.write(array.tobytes())
        entry["file"] = stem
    return entry


def tensor_of(crop_image):
    return T.Normalize(MEAN, STD)(T.ToTensor()(crop_image)).numpy().astype(np.float32)


def crop_cases():
    images = ["odd_301x257.png", "landscape_1200x800.jpg", "tiny_20x15.png", "portrait_320x370.jpg",
              "grey_320x240.jpg"]
    cases = []
    for name in images:
        im = rgb(name)
        width, height = im.size
        boxes = []
        for seed in range(3):
            torch.manual_seed(seed)
            top, left, h, w = T.RandomResizedCrop.get_params(im, [0.08, 1.0], [3 / 4, 4 / 3])
            boxes.append((left, top, w, h))
        boxes += [(0, 0, width, height), (width - 1, height - 1, 1, 1), (0, height // 2, width, min(3, height)),
                  (0, 0, max(1, width // 3), height)]
        for n, box in enumerate(boxes):
            flip = n % 2 == 1
            left, top, w, h = box
            out = F.resized_crop(im, top, left, h, w, [32, 32], InterpolationMode.BICUBIC)
            if flip:
                out = F.hflip(out)
            stem = f"{os.path.splitext(name)[0]}.box{n}"
            case = {"image": name, "box": list(box), "flip": flip, "size": 32,
                    "crop": save(stem + ".crop32.bin", np.asarray(out)),
                    "tensor": save(stem + ".tensor32.bin", tensor_of(out))}
            cases.append(case)
    for name, box, flip in [("landscape_1200x800.jpg", None, True), ("tiny_20x15.png", (0, 0, 20, 15), False)]:
        im = rgb(name)
        if box is None:
            torch.manual_seed(0)
            top, left, h, w = T.RandomResizedCrop.get_params(im, [0.08, 1.0], [3 / 4, 4 / 3])
            box = (left, top, w, h)
        left, top, w, h = box
        out = F.resized_crop(im, top, left, h, w, [224, 224], InterpolationMode.BICUBIC)
        if flip:
            out = F.hflip(out)
        stem = f"{os.path.splitext(name)[0]}.large"
        cases.append({"image": name, "box": list(box), "flip": flip, "size": 224,
                      "crop": save(stem + ".crop224.bin", np.asarray(out))})
    return cases


def pil_draft_scale(width, height, request):
    """The reduction Image.draft picks (JpegImagePlugin): the largest of 8, 4, 2, 1 not above the ratio."""
    scale = min(width // request[0], height // request[1])
    return next(a for a in (8, 4, 2, 1) if scale >= a)


def ours_eighths(full, need):
    """The scale k/8 our fast decoding picks (bcos_image_decode_scaled), written out independently."""
    return next((k for k in (1, 2, 4) if full[0] * k >= 8 * need[0] and full[1] * k >= 8 * need[1]), 8)


def drafted(name, request):
    im = Image.open(os.path.join(IMAGES, name))
    full = im.size
    im.draft("RGB", request)
    out = im.convert("RGB")
    im.close()
    scale = pil_draft_scale(full[0], full[1], request)
    assert out.size == ((full[0] + scale - 1) // scale, (full[1] + scale - 1) // scale), (name, out.size)
    return out, scale


def draft_cases():
    requests = [("landscape_1200x800.jpg", (150, 100)), ("landscape_1200x800.jpg", (300, 200)),
                ("landscape_1200x800.jpg", (600, 400)), ("sub420_451x300.jpg", (112, 75)),
                ("sub444_451x300.jpg", (225, 150)), ("progressive_400x267.jpg", (200, 133)),
                ("grey_320x240.jpg", (40, 30)), ("cmyk_240x160.jpg", (120, 80)), ("ycck_200x150.jpg", (50, 37)),
                ("portrait_320x370.jpg", (160, 185))]
    cases = []
    for name, request in requests:
        out, scale = drafted(name, request)
        with Image.open(os.path.join(IMAGES, name)) as im:
            assert scale > 1 and ours_eighths(im.size, request) * scale == 8, (name, request)
        stem = f"{os.path.splitext(name)[0]}.draft{scale}"
        cases.append({"image": name, "request": list(request), "scale": scale, "width": out.size[0],
                      "height": out.size[1], "rgb": save(stem + ".rgb.bin", np.asarray(out))})
    return cases


def fast_request(size):
    """What our fast mode asks the DCT scaling for at model input S: ceil(3 S / 4) each way."""
    return -(-3 * size // 4)


def fast_eval_cases():
    cases, enlarged = [], 0
    for name, size in [("landscape_1200x800.jpg", 32), ("landscape_1200x800.jpg", 100), ("sub420_451x300.jpg", 64),
                       ("progressive_400x267.jpg", 64), ("portrait_320x370.jpg", 40), ("landscape_1200x800.jpg", 120),
                       ("progressive_400x267.jpg", 160)]:
        request = (fast_request(size), fast_request(size))
        out, scale = drafted(name, request)
        with Image.open(os.path.join(IMAGES, name)) as im:
            eighths = ours_eighths(im.size, request)
        assert scale > 1 and eighths * scale == 8, (name, size, "our fast mode would scale by", eighths)
        enlarged += min(out.size) < size
        transform = open_clip.image_transform(size, is_train=False)
        crop = out
        for t in transform.transforms[:2]:  # Resize(S, BICUBIC), CenterCrop(S)
            crop = t(crop)
        tensor = transform(out).numpy().astype(np.float32)
        assert np.array_equal(tensor, tensor_of(crop))
        stem = f"{os.path.splitext(name)[0]}.fast{size}"
        cases.append({"image": name, "size": size, "request": list(request), "scale": scale,
                      "crop": save(stem + ".crop.bin", np.asarray(crop)), "tensor": save(stem + ".tensor.bin", tensor)})
    assert enlarged >= 2, "the cases must cover drafts that the resize enlarges"
    return cases


def tall_eval_cases():
    """Evaluation crops where Pillow 13 resizes vertically first (the height loses more than twice as
    many pixels as the width): a smooth random 90 x 400 picture, written as PNG beside the arrays."""
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (20, 6, 3), dtype=np.uint8)
    picture = Image.fromarray(small).resize((90, 400), Image.BILINEAR)
    picture.save(os.path.join(OUT, "tall_90x400.png"))
    cases = []
    for size in (32, 64):
        transform = open_clip.image_transform(size, is_train=False)
        resized = transform.transforms[0](picture)
        crop = transform.transforms[1](resized)
        assert picture.height - resized.height > 2 * (picture.width - resized.width)
        cases.append({"image": "tall_90x400.png", "size": size, "resized_width": resized.width,
                      "resized_height": resized.height,
                      "resized": save(f"tall_90x400.resized{size}.bin", np.asarray(resized)),
                      "crop": save(f"tall_90x400.crop{size}.bin", np.asarray(crop))})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    geometry, kinds = geometry_cases()
    index = {"generator": "tools/ref/make_train_crop_fixtures.py", "torch": torch.__version__,
             "torchvision": torchvision.__version__, "pillow": PIL.__version__, "open_clip": open_clip.__version__,
             "mean": MEAN, "std": STD, "geometry_kinds": kinds,
             "torch_f32_not_correctly_rounded": ULP_DIFFERENCES, "crops": crop_cases(), "drafts": draft_cases(),
             "fast_eval": fast_eval_cases(), "tall_eval": tall_eval_cases()}
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "geometry.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in geometry) + "\n]\n")
    print(f"{len(geometry)} geometry cases {kinds}, {len(index['crops'])} crops, {len(index['drafts'])} drafts, "
          f"{len(index['fast_eval'])} fast evaluations, {len(index['tall_eval'])} tall evaluations")


if __name__ == "__main__":
    main()
