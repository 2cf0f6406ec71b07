"""Bare-file preprocessing fixtures: open_clip's transform on Image.open(f) against the convert-first order.

open_clip's evaluation transform (Resize, CenterCrop, convert("RGB"), ToTensor, Normalize) handed a file
as PIL opens it resizes in the file's own mode: nearest neighbour for palette (P) and 1-bit (1) images,
premultiplied alpha for RGBA and LA, 16 bits for 16-bit greyscale (I;16), four channels for CMYK. webdataset, CLIP_benchmark and
torchvision's ImageFolder convert to RGB first. `bcos encode-image`, `zeroshot` and `explain` offer both
(--pixel-order open-clip|convert-first).

Writes tests/fixtures/bare_file/: small PNG, WebP and JPEG files of each of those modes (and RGB and L controls,
where both orders agree), and index.json. For each file and each size S in (32, 224) it records both crops
as SxSx3 uint8 with their CRC-32: "open_clip", T.CenterCrop(S)(T.Resize(S, BICUBIC)(Image.open(f)))
.convert("RGB"), and "convert_first", the same on Image.open(f).convert("RGB"). Crops at S=32 are also
written as raw .bin files and as RGB PNGs (STEM.ORDER32.png: for the CLI test, which encodes them with the
32-pixel tiny model, where they pass through the preprocessing unchanged). The generator asserts that open_clip.image_transform(S)'s tensors equal
ToTensor + Normalize of those crops exactly, so the crops are what open_clip feeds the model; and that
the two orders differ for every file of the modes concerned (at one size at least).

Deterministic: re-run with
    .venv-ref/bin/python tools/ref/make_bare_file_fixtures.py
from the repository root (needs pillow, numpy, torch, torchvision, open_clip_torch, scikit-image, and the
system's libturbojpeg.so.0 for the YCCK file, as make_image_fixtures.py does).
"""
import io
import json
import os
import struct
import zlib

import numpy as np
import open_clip
import PIL
import skimage
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

from make_image_fixtures import ycck_jpeg

OUT = "tests/fixtures/bare_file"
SIZES = (32, 224)
RAW_SIZE = 32
SKDATA = os.path.join(os.path.dirname(skimage.__file__), "data")
RESIZED_APART = {"P", "1", "RGBA", "LA", "I;16", "CMYK"}


def photo(name, size):
    return Image.open(os.path.join(SKDATA, name)).convert("RGB").resize(size, Image.BICUBIC)


def encoded(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def alpha_field(rng, w, h):
    """Alpha with every kind of pixel: a diagonal ramp, noise, a transparent and an opaque block."""
    ramp = np.add.outer(np.arange(h) * 255.0 / max(h - 1, 1), np.arange(w) * 255.0 / max(w - 1, 1)) / 2
    a = np.clip(ramp + rng.integers(-40, 41, (h, w)), 0, 255).astype(np.uint8)
    a[: h // 4, : w // 4] = 0
    a[-(h // 4):, -(w // 4):] = 255
    return a


def rgba(rgb, alpha):
    return Image.fromarray(np.dstack([np.asarray(rgb), alpha]), "RGBA")


def png16(width, height, color_type, samples):
    """A 16-bit PNG (colour type 0 grey, 4 grey + alpha, 6 RGBA) from uint16 samples."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def grey16_field(rng, w, h, top):
    """Smooth 16-bit values from 0 to top with sharp steps (the kernel's lobes overshoot at them)."""
    ramp = np.add.outer(np.arange(h) / max(h - 1, 1), np.arange(w) / max(w - 1, 1)) / 2 * top
    steps = ((np.arange(w) // 5) % 2 * (top // 3))[None, :]
    return np.clip(ramp + steps + rng.integers(0, 16, (h, w)), 0, 65535).astype(np.uint16)


def files():
    """(file name, bytes, what it tests)."""
    rng = np.random.default_rng(20261207)
    coffee, chelsea, astronaut = (photo("coffee.png", (150, 100)), photo("chelsea.png", (120, 90)),
                                  photo("astronaut.png", (64, 64)))
    out = [
        ("palette_150x100.png", encoded(coffee.quantize(64), "PNG"), "palette, downscaled (nearest)"),
        ("palette_20x15.png", encoded(coffee.resize((20, 15)).quantize(12), "PNG"),
         "palette, upscaled (nearest)"),
    ]
    trns = astronaut.resize((45, 37)).quantize(16)
    out.append(("palette4_trns_45x37.png", encoded(trns, "PNG", bits=4, transparency=3),
                "4-bit palette with a transparent entry (ignored by convert)"))
    bits = (np.asarray(chelsea.convert("L").resize((61, 45))) > 110)
    out.append(("bilevel_61x45.png", encoded(Image.fromarray(bits).convert("1"), "PNG"), "1-bit (mode 1)"))
    out.append(("rgba_120x90.png", encoded(rgba(chelsea, alpha_field(rng, 120, 90)), "PNG"),
                "RGBA, downscaled premultiplied"))
    out.append(("rgba_tall_40x200.png", encoded(rgba(coffee.resize((40, 200)), alpha_field(rng, 40, 200)), "PNG"),
                "RGBA whose height loses most: PIL's vertical pass first at S=32"))
    out.append(("rgba_32x50.png", encoded(rgba(astronaut.resize((32, 50)), alpha_field(rng, 32, 50)), "PNG"),
                "RGBA already 32 on its short side: no resize, so no premultiplication, at S=32"))
    grey = np.asarray(chelsea.convert("L"))
    out.append(("la_120x90.png", encoded(Image.fromarray(np.dstack([grey, alpha_field(rng, 120, 90)]), "LA"), "PNG"),
                "grey + alpha (LA), premultiplied"))
    la16 = np.dstack([grey.astype(np.uint16) * 257, alpha_field(rng, 120, 90).astype(np.uint16) * 257 + 100])
    out.append(("la16_120x90.png", png16(120, 90, 4, la16), "16-bit grey + alpha: PIL opens it as RGBA"))
    rgba16 = np.dstack([np.asarray(coffee.resize((64, 48))), alpha_field(rng, 64, 48)]).astype(np.uint16) * 257
    out.append(("rgba16_64x48.png", png16(64, 48, 6, rgba16), "16-bit RGBA: PIL keeps the high bytes"))
    out.append(("grey16_64x48.png", png16(64, 48, 0, grey16_field(rng, 64, 48, 700)),
                "16-bit grey around 255 (I;16): resized in 16 bits, then clipped at 255"))
    out.append(("grey16_tall_40x200.png", png16(40, 200, 0, grey16_field(rng, 40, 200, 420)),
                "16-bit grey, vertical pass first at S=32"))
    out.append(("grey16_full_50x40.png", png16(50, 40, 0, rng.integers(0, 65536, (40, 50))),
                "16-bit grey over the whole range (overshoots past 65535 and below 0 clip)"))
    out.append(("lossless_alpha_97x65.webp", encoded(rgba(photo("coffee.png", (97, 65)), alpha_field(rng, 97, 65)),
                                                     "WEBP", lossless=True, exact=True),
                "lossless WebP with alpha (PIL's RGBA)"))
    out.append(("lossy_alpha_80x60.webp", encoded(rgba(photo("chelsea.png", (80, 60)), alpha_field(rng, 80, 60)),
                                                  "WEBP", quality=90),
                "lossy WebP with alpha"))
    frames = [rgba(photo("coffee.png", (48, 36)), alpha_field(rng, 48, 36)),
              rgba(photo("chelsea.png", (48, 36)), alpha_field(rng, 48, 36))]
    out.append(("animated_alpha_48x36.webp", encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                                     lossless=True, exact=True, duration=100),
                "animated WebP with alpha: its first frame, RGBA"))
    cmyk = np.dstack([np.asarray(photo("coffee.png", (90, 60)).convert("CMYK"))[:, :, :3],
                      alpha_field(rng, 90, 60)])
    out.append(("cmyk_90x60.jpg", encoded(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=92),
                "CMYK JPEG with a varied K (PIL writes Adobe-inverted CMYK): resized in CMYK"))
    out.append(("ycck_90x60.jpg", ycck_jpeg(255 - cmyk), "YCCK JPEG (Adobe transform 2), PIL's CMYK"))
    out.append(("rgb_70x50.png", encoded(photo("coffee.png", (70, 50)), "PNG"), "RGB control: orders agree"))
    out.append(("grey_70x50.png", encoded(photo("coffee.png", (70, 50)).convert("L"), "PNG"),
                "L control: orders agree"))
    return out


def crop(im, size):
    """torchvision's Resize(S, BICUBIC) then CenterCrop(S), then convert("RGB"): open_clip's pixels."""
    resized = T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)(im)
    return np.asarray(T.CenterCrop(size)(resized).convert("RGB"))


def as_tensor(pixels):
    t = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div(255)
    return T.Normalize(open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)(t)


def record(stem, order, size, pixels):
    entry = {"crc32": zlib.crc32(pixels.tobytes()) & 0xFFFFFFFF, "bytes": pixels.nbytes}
    if size == RAW_SIZE:
        entry["file"] = f"{stem}.{order}{size}.bin"
        pixels.tofile(os.path.join(OUT, entry["file"]))
        Image.fromarray(pixels).save(os.path.join(OUT, f"{stem}.{order}{size}.png"))
    return entry


def references(name, data, note):
    stem = os.path.splitext(name)[0]
    mode = Image.open(io.BytesIO(data)).mode
    entry = {"file": name, "note": note, "pil_mode": mode, "sizes": []}
    differs = False
    for size in SIZES:
        transform = open_clip.image_transform(size, is_train=False)
        bare = crop(Image.open(io.BytesIO(data)), size)
        first = crop(Image.open(io.BytesIO(data)).convert("RGB"), size)
        assert torch.equal(transform(Image.open(io.BytesIO(data))), as_tensor(bare)), name
        assert torch.equal(transform(Image.open(io.BytesIO(data)).convert("RGB")), as_tensor(first)), name
        delta = np.abs(bare.astype(int) - first.astype(int))
        differs |= bool(delta.any())
        entry["sizes"].append({"size": size, "open_clip": record(stem, "open_clip", size, bare),
                               "convert_first": record(stem, "convert_first", size, first),
                               "max_abs_difference": int(delta.max())})
    assert differs == (mode in RESIZED_APART), f"{name} ({mode}): the orders {'differ' if differs else 'agree'}"
    return entry


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    transform = repr(open_clip.image_transform(224, is_train=False))
    images = []
    for name, data, note in files():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        images.append(references(name, data, note))
    index = {"generator": "tools/ref/make_bare_file_fixtures.py", "pillow": PIL.__version__,
             "torchvision": torchvision.__version__, "open_clip": open_clip.__version__,
             "open_clip_transform": transform, "images": images}
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(images)} files to {OUT}")


if __name__ == "__main__":
    main()
