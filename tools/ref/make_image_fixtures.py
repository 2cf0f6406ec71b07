"""Image decoding and CLIP evaluation preprocessing fixtures: what PIL, torchvision and open_clip give.

Writes tests/fixtures/image/: a set of small image files (JPEG baseline/progressive, 4:4:4/4:2:2/4:2:0,
greyscale, CMYK, YCCK, EXIF-rotated; PNG RGB, alpha, palette, 16-bit, greyscale 1/2-bit, grey+alpha,
Adam7-interlaced; a lossy WebP; odd sizes, sizes whose centre crop lands on a half pixel, images smaller than the target),
files PIL refuses (truncated, corrupt, not an image, decompression bombs) or we do not read (GIF), and
index.json that describes them. For each readable image and each size S in (224, 32) it records:

- the decoded pixels, PIL's Image.open(f).convert("RGB") as HxWx3 uint8;
- the resized pixels before the crop, torchvision's Resize(S, BICUBIC) on that RGB image (PIL underneath);
- the centre crop, torchvision's CenterCrop(S) of the resized image, as SxSx3 uint8;
- the tensor open_clip's evaluation transform gives for that RGB image, float32 [3, S, S].

Every array has its CRC-32 (zlib) in index.json; arrays up to RAW_LIMIT bytes, the S=32 tensors and the
S=224 tensor of the image marked keep_tensor are also written as raw little-endian .bin files, so that the
C test can report the largest difference. The whole set stays under about 3 MB.

The photos come from scikit-image's bundled data (public domain). Deterministic: re-run with
    .venv-ref/bin/python tools/ref/make_image_fixtures.py
from the repository root (needs pillow, torch, torchvision, open_clip_torch, scikit-image, numpy, and the
system's libturbojpeg.so.0 for the YCCK file, which PIL cannot write).
"""
import ctypes
import io
import json
import os
import re
import struct
import zlib

import numpy as np
import open_clip
import PIL
import skimage
import torchvision
from PIL import Image, features
from torchvision import transforms as T

OUT = "tests/fixtures/image"
SEEDS = "tests/fuzz/seeds/fuzz_image_decode"
SIZES = (224, 32)
RAW_LIMIT = 48 * 1024
SKDATA = os.path.join(os.path.dirname(skimage.__file__), "data")


def photo(name):
    return Image.open(os.path.join(SKDATA, name))


# ---------------------------------------------------------------- writers for what PIL cannot write


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, bit_depth, color_type, rows, extra=b"", interlace=False):
    """A PNG from rows of packed samples (bytes, without filter bytes). interlace: Adam7."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
        assert bit_depth >= 8, "interlaced rows are sliced per pixel here"
        bpp = channels * bit_depth // 8
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for x0, y0, dx, dy in passes:
            for y in range(y0, height, dy):
                row = rows[y]
                pix = [row[x * bpp:(x + 1) * bpp] for x in range(x0, width, dx)]
                if pix:
                    raw += b"\x00" + b"".join(pix)
    else:
        raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def ycck_jpeg(cmyk):
    """A YCCK JPEG (Adobe transform 2) from an HxWx4 CMYK array, through libjpeg-turbo's TurboJPEG API."""
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(tj.tjInitCompress())
    buf = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    h, w, _ = cmyk.shape
    src = np.ascontiguousarray(cmyk)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    rc = tj.tjCompress2(handle, src.ctypes.data_as(ctypes.c_void_p), w, 0, h, TJPF_CMYK, ctypes.byref(buf),
                        ctypes.byref(size), TJSAMP_420, 90, 0)
    assert rc == 0
    data = ctypes.string_at(buf, size.value)
    tj.tjFree(buf)
    tj.tjDestroy(handle)
    return data


def jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def png(im, **kw):
    b = io.BytesIO()
    im.save(b, "PNG", **kw)
    return b.getvalue()


def rgb_photo(name, size=None, box=None):
    im = photo(name).convert("RGB")
    if box:
        im = im.crop(box)
    if size:
        im = im.resize(size, Image.BICUBIC)
    return im


def with_orientation(data, orientation):
    """The JPEG with an EXIF APP1 segment carrying only an Orientation tag."""
    ifd = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + ifd
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def with_thumbnail(data, thumbnail):
    """The JPEG with an EXIF APP1 segment that carries a whole JPEG thumbnail (its own scan and EOI)."""
    app1 = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00" + thumbnail
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def with_stray_bytes(data):
    """Junk between the first two header segments: libjpeg and PIL skip it with a warning."""
    first_end = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:first_end] + b"junk" + data[first_end:]


def bogus_length_after_warning(data):
    """Stray bytes before the first DQT segment, whose length then reads 1 (at least 2 is possible)."""
    dqt = data.index(b"\xff\xdb")
    return data[:dqt] + b"junk\xff\xdb\x00\x01" + data[dqt + 4:]


def odd_sampling(data):
    """A 4:4:4 JPEG relabelled with sampling factors Y 2x2, Cb 1x1, Cr 2x1, which TurboJPEG's header
    reader has no name for; libjpeg decodes it (with warnings, the scan data no longer fits)."""
    sof = data.index(b"\xff\xc0")
    body = bytearray(data)
    body[sof + 11], body[sof + 14], body[sof + 17] = 0x22, 0x11, 0x21
    return bytes(body)


def corrupt_scan(data):
    """Flip bytes inside the entropy-coded data of the first scan (libjpeg warns and carries on)."""
    sos = data.index(b"\xff\xda")
    start = sos + 2 + struct.unpack(">H", data[sos + 2:sos + 4])[0]
    body = bytearray(data)
    for i in range(start + 40, len(data) - 40, 97):
        if body[i] != 0xFF and body[i - 1] != 0xFF:
            body[i] ^= 0x5A
    return bytes(body)


def readable_images():
    """(file name, bytes, what it tests, keep_tensor) for every image PIL reads."""
    coffee = rgb_photo("coffee.png")
    chelsea = rgb_photo("chelsea.png")
    astronaut = rgb_photo("astronaut.png")
    rng = np.random.default_rng(20240607)
    out = []

    out.append(("landscape_1200x800.jpg", jpeg(coffee.resize((1200, 800), Image.BICUBIC), quality=88),
                "large landscape JPEG, 4:2:0, downscaled 3.6x to 224", False))
    out.append(("portrait_320x370.jpg", jpeg(astronaut.crop((90, 20, 410, 390)), quality=92, subsampling=1),
                "portrait JPEG 4:2:2; at S=32 the long side is 37 (crop top lands on 2.5)", False))
    out.append(("grey_320x240.jpg", jpeg(photo("camera.png").resize((320, 240), Image.BICUBIC), quality=90),
                "greyscale JPEG (one component)", False))
    out.append(("cmyk_240x160.jpg", jpeg(chelsea.resize((240, 160), Image.BICUBIC).convert("CMYK"), quality=90),
                "CMYK JPEG as PIL writes it (Adobe marker, inverted)", False))
    cmyk = np.asarray(coffee.resize((200, 150), Image.BICUBIC).convert("CMYK"))
    out.append(("ycck_200x150.jpg", ycck_jpeg(255 - cmyk), "YCCK JPEG (Adobe transform 2, inverted)", False))
    out.append(("progressive_400x267.jpg", jpeg(rgb_photo("rocket.jpg", (400, 267)), quality=85, progressive=True),
                "progressive JPEG", False))
    out.append(("sub420_451x300.jpg", jpeg(chelsea, quality=85, subsampling=2),
                "4:2:0 JPEG with an odd width", False))
    out.append(("sub444_451x300.jpg", jpeg(chelsea, quality=85, subsampling=0), "4:4:4 JPEG", False))
    out.append(("exif_rotated_160x120.jpg", with_orientation(jpeg(coffee.resize((160, 120)), quality=90), 6),
                "EXIF Orientation 6, which PIL's open (and so open_clip) does not apply", False))
    out.append(("corrupt_scan_96x64.jpg", corrupt_scan(jpeg(chelsea.resize((96, 64)), quality=90)),
                "damaged entropy data: libjpeg warns, PIL decodes anyway", False))
    out.append(("stray_bytes_96x64.jpg", with_stray_bytes(jpeg(coffee.resize((96, 64)), quality=90)),
                "stray bytes between header segments (libjpeg skips them)", False))
    out.append(("odd_sampling_64x48.jpg", odd_sampling(jpeg(coffee.resize((64, 48)), quality=90, subsampling=0)),
                "unusual chroma sampling (Y 2x2, Cb 1x1, Cr 2x1)", False))
    out.append(("tiny_7x9.jpg", jpeg(astronaut.resize((7, 9), Image.BICUBIC), quality=90),
                "JPEG smaller than one MCU, upscaled", False))
    out.append(("h229_300x229.jpg", jpeg(coffee.resize((300, 229), Image.BICUBIC), quality=90),
                "resized to 293x224: the crop left lands on 34.5 (round half to even)", True))
    out.append(("w229_229x300.jpg", jpeg(coffee.resize((229, 300), Image.BICUBIC), quality=90),
                "resized to 224x293: the crop top lands on 34.5", False))
    out.append(("w233_233x224.jpg", jpeg(chelsea.resize((233, 224), Image.BICUBIC), quality=90),
                "no resize at 224, crop left 4.5", False))

    out.append(("h229_224x229.png", png(astronaut.resize((224, 229), Image.BICUBIC)),
                "no resize at 224, crop top 2.5", False))
    out.append(("odd_301x257.png", png(coffee.crop((150, 60, 451, 317))),
                "odd size; at S=32 the long side is 37 (crop left lands on 2.5)", False))
    logo = photo("logo.png").resize((250, 250), Image.BICUBIC)
    assert logo.mode == "RGBA"
    out.append(("rgba_250x250.png", png(logo), "RGBA: convert drops alpha without compositing", False))
    out.append(("palette_256x256.png", png(astronaut.resize((256, 256)).quantize(256), optimize=False),
                "palette PNG, 256 colours", False))
    short_palette = png_chunk(b"PLTE", bytes([200, 30, 40, 20, 180, 60, 10, 50, 220]))
    indices = rng.integers(0, 6, (7, 9)).astype(np.uint8)
    indices[3, 4] = 255
    out.append(("palette_oob_9x7.png", png_bytes(9, 7, 8, 3, [r.tobytes() for r in indices], short_palette),
                "palette of 3 entries with indices past it (PIL gives black there)", False))
    pal = astronaut.resize((100, 80)).quantize(16)
    pal.info["transparency"] = 3
    out.append(("palette4_trns_100x80.png", png(pal, bits=4, transparency=3),
                "4-bit palette PNG with a transparent entry (convert ignores it)", False))

    rgb16 = np.asarray(coffee.resize((160, 107), Image.BICUBIC)).astype(np.uint16) * 257
    rgb16 += rng.integers(0, 256, rgb16.shape, dtype=np.uint16) - 128
    rgb16 = rgb16.clip(0, 65535).astype(">u2")
    out.append(("rgb16_160x107.png", png_bytes(160, 107, 16, 2, [r.tobytes() for r in rgb16]),
                "16-bit RGB PNG: PIL keeps the high byte", False))
    rgba16 = np.concatenate([rgb16, rng.integers(0, 65536, rgb16.shape[:2] + (1,)).astype(">u2")], axis=2)
    out.append(("rgba16_160x107.png", png_bytes(160, 107, 16, 6, [r.tobytes() for r in rgba16]),
                "16-bit RGBA PNG", False))
    grey16 = (np.add.outer(np.arange(48), np.arange(64)) * 9 + rng.integers(0, 8, (48, 64))).astype(">u2")
    out.append(("grey16_64x48.png", png_bytes(64, 48, 16, 0, [r.tobytes() for r in grey16]),
                "16-bit greyscale PNG: PIL opens I;16 and convert clips at 255", False))
    la = np.stack([np.asarray(photo("camera.png").resize((120, 90))), rng.integers(0, 256, (90, 120))], -1)
    out.append(("grey_alpha_120x90.png", png_bytes(120, 90, 8, 4, [r.astype(np.uint8).tobytes() for r in la]),
                "grey + alpha PNG", False))
    bits2 = rng.integers(0, 4, (33, 70))
    rows = [np.packbits(np.unpackbits(r.astype(np.uint8)[:, None], axis=1)[:, 6:].reshape(-1)).tobytes()
            for r in bits2]
    out.append(("grey2_70x33.png", png_bytes(70, 33, 2, 0, rows), "2-bit greyscale PNG", False))
    bits1 = (np.asarray(photo("camera.png").resize((61, 45))) > 110).astype(np.uint8)
    out.append(("grey1_61x45.png", png_bytes(61, 45, 1, 0, [np.packbits(r).tobytes() for r in bits1]),
                "1-bit PNG (PIL mode 1)", False))
    inter = np.asarray(chelsea.resize((131, 87), Image.BICUBIC))
    out.append(("interlaced_131x87.png", png_bytes(131, 87, 8, 2, [r.tobytes() for r in inter], interlace=True),
                "Adam7-interlaced RGB PNG", False))
    webp = io.BytesIO()
    rgb_photo("coffee.png", (40, 30)).save(webp, "WEBP", quality=80)
    out.append(("lossy_40x30.webp", webp.getvalue(), "lossy WebP (more in tests/fixtures/webp)", False))
    out.append(("tiny_20x15.png", png(coffee.resize((20, 15), Image.BICUBIC)), "tiny RGB PNG, upscaled", False))
    out.append(("one_pixel_1x1.png", png(Image.new("RGB", (1, 1), (200, 30, 90))), "a single pixel", False))
    out.append(("thin_3x50.png", png(chelsea.resize((3, 50), Image.BICUBIC)),
                "extreme aspect ratio: resized to 224x3733 before the crop", False))
    return out


def rejected_files():
    """(file name, bytes, why) for files PIL refuses."""
    base = jpeg(rgb_photo("chelsea.png", (96, 64)), quality=90)
    prog = jpeg(rgb_photo("chelsea.png", (96, 64)), quality=90, progressive=True)
    good_png = png(rgb_photo("coffee.png", (40, 30)))
    idat = good_png.index(b"IDAT") - 4
    length = struct.unpack(">I", good_png[idat:idat + 4])[0]
    body = bytearray(good_png[idat + 8:idat + 8 + length])
    body[len(body) // 2] ^= 0xFF
    bad_zlib = good_png[:idat] + png_chunk(b"IDAT", bytes(body)) + good_png[idat + 12 + length:]
    short_rows = png_bytes(40, 30, 8, 2, [bytes(range(120))] * 10)
    sof = base.index(b"\xff\xc0")
    bomb_jpeg = base[:sof + 5] + struct.pack(">HH", 60000, 60000) + base[sof + 9:]
    gif = io.BytesIO()
    rgb_photo("coffee.png", (40, 30)).save(gif, "GIF")
    return [
        ("truncated_half.jpg", base[:len(base) // 2], "baseline JPEG cut in half"),
        ("truncated_no_eoi.jpg", base[:-2], "baseline JPEG without its end-of-image marker"),
        ("truncated_progressive.jpg", prog[:int(len(prog) * 0.8)], "progressive JPEG cut at 80%"),
        ("header_only.jpg", base[:sof + 40], "JPEG headers without image data"),
        ("warning_then_error.jpg", bogus_length_after_warning(base),
         "stray bytes (a libjpeg warning) and then a quantisation table of impossible length (an error)"),
        ("truncated_with_thumbnail.jpg", with_thumbnail(base, jpeg(rgb_photo("coffee.png", (16, 12))))[:1800],
         "JPEG cut in its image data, after an EXIF thumbnail that has an end-of-image marker of its own"),
        ("truncated.png", good_png[:len(good_png) * 2 // 3], "PNG cut at two thirds"),
        ("corrupt_zlib.png", bad_zlib, "PNG whose IDAT zlib stream is damaged (CRC fixed up)"),
        ("short_data.png", short_rows, "PNG whose image data ends after 10 of 30 rows (PIL fills the rest "
         "with black and says nothing; we refuse it: a loud skip beats a silently damaged sample)"),
        ("bomb_60000x60000.jpg", bomb_jpeg, "JPEG header claiming 60000x60000 pixels"),
        ("bomb_20000x20000.png", png_bytes(20000, 20000, 8, 2, [b"\x00" * 60000]),
         "PNG header claiming 20000x20000 pixels"),
        ("not_an_image.txt", b"<html><body>404 Not Found</body></html>\n", "HTML text"),
        ("empty.jpg", b"", "an empty file"),
        ("sample.gif", gif.getvalue(), "GIF (not a format we read)"),
    ]


def fuzz_seeds():
    """Tiny files of every kind the decoders take apart, to start the fuzzer from."""
    im = rgb_photo("chelsea.png", (13, 9))
    arr = np.asarray(im)
    rgba16 = np.concatenate([arr, arr[:, :, :1]], axis=2).astype(">u2") * 257
    return {
        "baseline.jpg": jpeg(im, quality=80),
        "progressive.jpg": jpeg(im, quality=80, progressive=True),
        "grey.jpg": jpeg(im.convert("L"), quality=80),
        "cmyk.jpg": jpeg(im.convert("CMYK"), quality=80),
        "ycck.jpg": ycck_jpeg(255 - np.asarray(im.convert("CMYK"))),
        "rgb.png": png(im),
        "palette.png": png(im.quantize(5), bits=4),
        "rgba16_interlaced.png": png_bytes(13, 9, 16, 6, [r.tobytes() for r in rgba16], interlace=True),
        "grey2.png": png_bytes(8, 2, 2, 0, [b"\x1b\xe4", b"\x6c\x93"]),
    }


# ---------------------------------------------------------------- references


def crc(arr):
    return zlib.crc32(np.ascontiguousarray(arr).tobytes()) & 0xFFFFFFFF


def save_array(stem, arr, keep):
    """Record an array: its CRC-32, shape and dtype, and a raw .bin file when kept."""
    arr = np.ascontiguousarray(arr)
    entry = {"crc32": crc(arr), "bytes": arr.nbytes}
    if keep or arr.nbytes <= RAW_LIMIT:
        name = stem + ".bin"
        arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(OUT, name))
        entry["file"] = name
    return entry


def references(name, data, note, keep_tensor):
    stem = os.path.splitext(name)[0]
    opened = Image.open(io.BytesIO(data))
    mode = opened.mode
    rgb = opened.convert("RGB")
    w, h = rgb.size
    entry = {"file": name, "note": note, "pil_format": opened.format, "pil_mode": mode, "width": w, "height": h,
             "rgb": save_array(stem + ".rgb", np.asarray(rgb), False), "sizes": []}
    for size in SIZES:
        resized = T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)(rgb)
        rw, rh = resized.size
        assert resized.tobytes() == (rgb if (rw, rh) == rgb.size else rgb.resize((rw, rh), Image.BICUBIC)).tobytes()
        cropped = T.CenterCrop(size)(resized)
        left, top = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))
        assert cropped.tobytes() == resized.crop((left, top, left + size, top + size)).tobytes()
        tensor = open_clip.image_transform(size, is_train=False)(rgb).numpy().astype(np.float32)
        unconverted = open_clip.image_transform(size, is_train=False)(Image.open(io.BytesIO(data))).numpy()
        entry["sizes"].append({
            "size": size, "resized_width": rw, "resized_height": rh, "crop_left": left, "crop_top": top,
            "resized": save_array(f"{stem}.resized{size}", np.asarray(resized), False),
            "crop": save_array(f"{stem}.crop{size}", np.asarray(cropped), False),
            "tensor": save_array(f"{stem}.tensor{size}", tensor, keep_tensor or size <= 32),
            # open_clip converts to RGB after resizing: an image handed over unconverted (palette,
            # RGBA, CMYK, 16-bit) is resized in its own mode and comes out differently.
            "open_clip_unconverted_matches": bool(np.array_equal(unconverted, tensor)),
        })
    return entry


def rejected(name, data, why):
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im.convert("RGB")
    except Exception as e:  # noqa: BLE001 - any refusal is what we want
        message = re.sub(r" at 0x[0-9a-f]+", "", str(e))  # object addresses vary from run to run
        return {"file": name, "why": why, "pil_error": f"{type(e).__name__}: {message}"}
    if name.endswith((".gif", "short_data.png")):
        return {"file": name, "why": why, "pil_error": None}
    raise AssertionError(f"PIL reads {name}, which should be refused")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    check = open_clip.create_model_and_transforms("ViT-B-32")[2]
    assert repr(check) == repr(open_clip.image_transform(224, is_train=False)), "open_clip's eval transform moved"
    Image.MAX_IMAGE_PIXELS = 89478485  # PIL's default: it refuses images over twice this
    images, rejects = [], []
    for name, data, note, keep_tensor in readable_images():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        images.append(references(name, data, note, keep_tensor))
    for name, data, why in rejected_files():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        rejects.append(rejected(name, data, why))
    os.makedirs(SEEDS, exist_ok=True)
    for name, data in fuzz_seeds().items():
        with open(os.path.join(SEEDS, name), "wb") as f:
            f.write(data)
    index = {
        "generator": "tools/ref/make_image_fixtures.py",
        "pillow": PIL.__version__,
        "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
        "pillow_zlib": features.version("zlib"),
        "torchvision": torchvision.__version__,
        "open_clip": open_clip.__version__,
        "mean": list(open_clip.OPENAI_DATASET_MEAN),
        "std": list(open_clip.OPENAI_DATASET_STD),
        "images": images,
        "rejected": rejects,
    }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(images)} images, {len(rejects)} rejected files, {total / 1e6:.2f} MB in {OUT}")
    for e in images:
        diverging = [s["size"] for s in e["sizes"] if not s["open_clip_unconverted_matches"]]
        if diverging:
            print(f"  {e['file']} ({e['pil_mode']}): open_clip on the unconverted image differs at {diverging}")


if __name__ == "__main__":
    main()
