"""WebP decoding fixtures: what PIL's Image.open(f).convert("RGB") gives for WebP files.

Writes tests/fixtures/webp/: small WebP files written by PIL (libwebp underneath): lossy and lossless, with
and without alpha (alpha dropped by convert("RGB") without compositing, so the colours under transparent
pixels count), odd sizes (chroma upsampling at the edges), a file with ICC and EXIF chunks (VP8X container),
an animation (PIL reads its first frame on the canvas), and files PIL refuses (truncated, damaged
headers). index.json lists them; for each readable file it records PIL's RGB pixels as a raw HxWx3 .rgb.bin
file with its CRC-32. A few files also seed the image decoder's fuzzer.

The photos come from scikit-image's bundled data (public domain). Deterministic: re-run with
    .venv-ref/bin/python tools/ref/make_webp_fixtures.py
from the repository root (needs pillow and scikit-image).
"""
import io
import json
import os
import zlib

import numpy as np
import PIL
import skimage
from PIL import Image, features

OUT = "tests/fixtures/webp"
SEEDS = "tests/fuzz/seeds/fuzz_image_decode"
SKDATA = os.path.join(os.path.dirname(skimage.__file__), "data")


def photo(name, size):
    return Image.open(os.path.join(SKDATA, name)).convert("RGB").resize(size, Image.BICUBIC)


def webp(im, **kw):
    b = io.BytesIO()
    im.save(b, "WEBP", **kw)
    return b.getvalue()


def with_alpha(im, rng):
    """im with an alpha channel: a gradient plus noise, fully transparent in one corner."""
    w, h = im.size
    alpha = np.add.outer(np.arange(h) * 255 // max(h - 1, 1), np.zeros(w, int)) + rng.integers(-40, 40, (h, w))
    alpha[: h // 3, : w // 3] = 0
    rgba = np.dstack([np.asarray(im), alpha.clip(0, 255).astype(np.uint8)])
    return Image.fromarray(rgba, "RGBA")


def readable_images():
    """(file name, bytes, what it tests) for every file PIL reads."""
    rng = np.random.default_rng(20240611)
    coffee = photo("coffee.png", (160, 107))
    chelsea = photo("chelsea.png", (97, 65))
    astronaut = photo("astronaut.png", (64, 64))
    frames = [photo("rocket.jpg", (48, 36)), photo("coffee.png", (48, 36)), photo("chelsea.png", (48, 36))]
    return [
        ("lossy_160x107.webp", webp(coffee, quality=80), "lossy (VP8), simple container"),
        ("lossy_odd_97x65.webp", webp(chelsea, quality=60, method=6),
         "lossy with odd sides: the chroma upsampling's last row and column"),
        ("lossy_q100_64x64.webp", webp(astronaut, quality=100), "lossy at quality 100"),
        ("lossy_alpha_97x65.webp", webp(with_alpha(chelsea, rng), quality=70),
         "lossy with an ALPH chunk (VP8X): convert drops alpha"),
        ("lossy_alpha_exact_64x64.webp", webp(with_alpha(astronaut, rng), quality=75, exact=True),
         "lossy with alpha, the colours under transparent pixels kept by the encoder"),
        ("lossless_160x107.webp", webp(coffee, lossless=True), "lossless (VP8L) RGB"),
        ("lossless_alpha_exact_97x65.webp", webp(with_alpha(chelsea, rng), lossless=True, exact=True),
         "lossless RGBA with the colours under transparent pixels kept: convert keeps them"),
        ("lossless_grey_64x64.webp", webp(astronaut.convert("L"), lossless=True),
         "a greyscale image (PIL writes it as RGB)"),
        ("tiny_1x1.webp", webp(Image.new("RGB", (1, 1), (200, 30, 90)), quality=90), "a single pixel, lossy"),
        ("tiny_lossless_3x2.webp", webp(Image.new("RGB", (3, 2), (10, 250, 60)), lossless=True),
         "a tiny lossless image"),
        ("metadata_64x64.webp", webp(astronaut, quality=85, icc_profile=b"\0" * 128, exif=b"Exif\0\0MM\0*\0\0\0\x08\0\0"),
         "VP8X container with ICCP and EXIF chunks (both ignored by convert)"),
        ("animated_48x36.webp", webp(frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0,
                                     quality=80),
         "animation of 3 frames: PIL opens the first frame on the canvas"),
    ]


def rejected_files():
    """(file name, bytes, why) for files PIL refuses."""
    lossy = webp(photo("coffee.png", (60, 40)), quality=80)
    lossless = webp(photo("coffee.png", (60, 40)), lossless=True)
    bad_vp8 = bytearray(lossy)
    vp8 = bad_vp8.index(b"VP8 ")
    bad_vp8[vp8 + 11:vp8 + 14] = b"\0\0\0"  # the keyframe start code 9d 01 2a
    bad_vp8l = bytearray(lossless)
    vp8l = bad_vp8l.index(b"VP8L")
    bad_vp8l[vp8l + 8] = 0x00  # the lossless signature byte 0x2f
    return [
        ("truncated_lossy.webp", lossy[: len(lossy) // 2], "lossy WebP cut in half"),
        ("truncated_lossless.webp", lossless[: len(lossless) * 2 // 3], "lossless WebP cut at two thirds"),
        ("header_only.webp", lossy[:30], "the RIFF and VP8 headers, no image data"),
        ("bad_vp8_start.webp", bytes(bad_vp8), "lossy frame without its start code"),
        ("bad_vp8l_signature.webp", bytes(bad_vp8l), "lossless bitstream without its signature"),
    ]


def crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def reference(name, data, note):
    opened = Image.open(io.BytesIO(data))
    rgb = opened.convert("RGB")
    raw = rgb.tobytes()
    stem = os.path.splitext(name)[0]
    with open(os.path.join(OUT, stem + ".rgb.bin"), "wb") as f:
        f.write(raw)
    return {"file": name, "note": note, "pil_mode": opened.mode, "frames": getattr(opened, "n_frames", 1),
            "width": rgb.width, "height": rgb.height, "rgb": {"file": stem + ".rgb.bin", "crc32": crc(raw)}}


def rejected(name, data, why):
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im.convert("RGB")
    except Exception as e:  # noqa: BLE001 - any refusal is what we want
        return {"file": name, "why": why, "pil_error": f"{type(e).__name__}: {e}"}
    raise AssertionError(f"PIL reads {name}, which should be refused")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    images, rejects = [], []
    for name, data, note in readable_images():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        images.append(reference(name, data, note))
    for name, data, why in rejected_files():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        rejects.append(rejected(name, data, why))
    seeds = {"lossy.webp": "tiny_1x1.webp", "lossless.webp": "tiny_lossless_3x2.webp",
             "animated.webp": "animated_48x36.webp"}
    for seed, name in seeds.items():
        with open(os.path.join(OUT, name), "rb") as src, open(os.path.join(SEEDS, seed), "wb") as dst:
            dst.write(src.read())
    index = {
        "generator": "tools/ref/make_webp_fixtures.py",
        "pillow": PIL.__version__,
        "pillow_libwebp": features.version("webp"),
        "images": images,
        "rejected": rejects,
    }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(images)} images, {len(rejects)} rejected files, {total / 1e3:.0f} kB in {OUT}")


if __name__ == "__main__":
    main()
