"""WebDataset compatibility fixtures, both ways, with the Python `webdataset` package as the peer.

Peer -> us. Writes tests/fixtures/webdataset/peer/: small shards written by webdataset's ShardWriter and
TarWriter (ustar, the TarWriter default; pax; GNU), and one written with tarfile itself (what TarWriter
cannot write: directories, links, __metadata__ members), holding JPEG/PNG/WebP images, .cls, .txt and
.json members; keys with dots in folder names, a dot in a __key__'s last part (the reader splits the name
there, so the sample's key is shorter than the __key__ and its extension longer), upper-case extensions,
non-ASCII and long names, empty payloads, extensions we do not keep, a key that comes back later.
peer/expected.json holds the sample stream webdataset's reader (wds.WebDataset, no decoding) yields from
each shard, kept to the extensions bcosify reads (jpg jpeg png webp txt cls json) and to the samples that
keep a member: keys, extensions in member order, sizes and SHA-256 of the payloads.
tests/golden/test_webdataset.c reads the same shards through bcos_samples_* and compares exactly.

Us -> peer. Writes tests/fixtures/webdataset/ours/source/: a tiny image folder (3 classes), tiny IDX
files and a tiny COCO captions file. Shards written from them by `bcos shards write` (the commands are in
docs/DATA.md and in each listing's "args") are read back here with `--verify`:

    .venv-ref/bin/python tools/ref/make_webdataset_fixtures.py --verify OUT [--split S]
        [--folder ROOT | --idx IMAGES LABELS [--classnames F] | --coco IMAGES ANNOTATIONS] [--listing FILE]

which reads OUT/SPLIT/{0..N-1}.tar with webdataset and checks the layout (nshards.txt, sizes.json against
the samples webdataset counts, classnames.txt, templates with {c}), the keys (s0000000, s0000001, ...),
the labels and the images against the source (bytes for a folder or COCO, PIL-decoded pixels for IDX),
the captions for COCO, matching samples to source items in any order (--shuffle); with --listing it writes webdataset's sample listing of the shards. The listings of
the committed shards (ours/*/listing.json) let the C test check that what our writer produces now is
still what webdataset read.

Deterministic: re-run the fixtures with
    .venv-ref/bin/python tools/ref/make_webdataset_fixtures.py
from the repository root (needs webdataset, pillow, numpy), then re-write and verify our shards as
docs/DATA.md says.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
from collections import Counter

import numpy as np
import webdataset as wds
from PIL import Image

OUT = "tests/fixtures/webdataset"
KEPT = {"jpg", "jpeg", "png", "webp", "txt", "cls", "json"}
MTIME = 1700000000  # fixed, so that the shards are the same bytes on every run


def encoded(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def tiny_images(rng):
    """A few small images of each kind."""
    def noise(w, h):
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    return {
        "jpg": [encoded(noise(12, 9), "JPEG", quality=80) for _ in range(4)],
        "png": [encoded(noise(7, 5), "PNG") for _ in range(3)],
        "webp": [encoded(noise(10, 10), "WEBP", quality=70)],
    }


def peer_samples(rng):
    """The samples of the TarWriter shards: dicts of raw bytes (the writer's encoder is off)."""
    im = tiny_images(rng)
    meta = json.dumps({"source": "synthetic", "n": 3}).encode()
    return [
        {"__key__": "sample000", "jpg": im["jpg"][0], "cls": b"3", "txt": b"a photo of noise"},
        {"__key__": "sample001", "png": im["png"][0], "cls": b"7", "json": meta},
        {"__key__": "dir.with.dots/sub.dir/img002", "webp": im["webp"][0], "cls": b" 12\n"},
        {"__key__": "UPPER/case", "JPG": im["jpg"][1], "TXT": "caf\u00e9 \u2014 \u65e5\u672c".encode()},
        # a dot in the last part of __key__: readers split the name at it, key "img" and extension "v2.jpg"
        {"__key__": "dotted/img.v2", "jpg": im["jpg"][2], "cls": b"1"},
        {"__key__": "empty", "txt": b"", "cls": b"0"},
        {"__key__": "not_kept", "npy": b"\x93NUMPY", "seg.png": im["png"][1]},
        {"__key__": "mixed", "npy": b"\x93NUMPY", "png": im["png"][2], "seg.png": im["png"][1]},
        {"__key__": "sample000", "txt": b"the same key again, later"},
        {"__key__": "last", "jpeg": im["jpg"][3], "cls": b"9"},
    ]


def write_peer_shards(peer, rng):
    samples = peer_samples(rng)
    # ShardWriter cuts shards by count (ustar, the TarWriter default)
    with wds.ShardWriter(os.path.join(peer, "ustar-%06d.tar"), maxcount=4, encoder=False, mtime=MTIME,
                         verbose=0) as sink:
        for s in samples:
            sink.write(s)
    long_dir = "a-folder-name-long-enough-to-need-more-than-the-hundred-bytes-of-a-ustar-name/" * 2
    special = [
        {"__key__": "caf\u00e9/\u00fcber/\u65e5\u672c", "txt": "non-ASCII key".encode(), "cls": b"4"},
        {"__key__": long_dir + "sample", "png": samples[1]["png"], "cls": b"5"},
        {"__key__": "x" * 120, "txt": b"a long last part"},
    ]
    for fmt in ("PAX_FORMAT", "GNU_FORMAT"):
        path = os.path.join(peer, f"{fmt.split('_')[0].lower()}-000000.tar")
        with wds.TarWriter(path, encoder=False, mtime=MTIME, format=fmt) as sink:
            for s in special:
                sink.write(s)
    write_tarfile_shard(os.path.join(peer, "members-000000.tar"), tiny_images(rng))


def add(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size, ti.mtime, ti.mode = kind, link, len(data), MTIME, 0o644
    tar.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write_tarfile_shard(path, im):
    """Members TarWriter cannot write: metadata, folders, links."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "__index__", b"metadata, skipped")
        add(tar, "a", kind=tarfile.DIRTYPE)
        add(tar, "a/one.jpg", im["jpg"][0])
        add(tar, "a/one.cls", b"2")
        add(tar, "a/one.png", kind=tarfile.SYMTYPE, link="one.jpg")
        add(tar, "a/one.txt", kind=tarfile.LNKTYPE, link="a/one.cls")
        add(tar, "a/__meta__", b"no dot: no key")
        add(tar, "__meta__.json", b"{\"a top-level\": \"sample\"}")
        add(tar, "__cache__/c.jpg", im["jpg"][1])
        add(tar, "x/__cache__/d.jpg", im["jpg"][2])
        add(tar, "b/two.json", b"{}")
        add(tar, "b/two.webp", im["webp"][0])


def stream(url):
    """The samples webdataset's reader yields from one shard: (key, [(ext, bytes)]) in member order."""
    ds = wds.WebDataset(url, shardshuffle=False, empty_check=False)
    for s in ds:
        yield s["__key__"], [(k, v) for k, v in s.items() if not k.startswith("__")]


def listing(url, kept_only):
    out = []
    for key, members in stream(url):
        kept = [(e, v) for e, v in members if e in KEPT or not kept_only]
        if kept:
            out.append({"key": key, "members": [{"ext": e, "size": len(v), "sha256": hashlib.sha256(v).hexdigest()}
                                                for e, v in kept]})
    return out


def write_peer_fixtures():
    peer = os.path.join(OUT, "peer")
    shutil.rmtree(peer, ignore_errors=True)
    os.makedirs(peer)
    write_peer_shards(peer, np.random.default_rng(20240615))
    shards = sorted(f for f in os.listdir(peer) if f.endswith(".tar"))
    expected = {"generator": "tools/ref/make_webdataset_fixtures.py", "webdataset": wds.__version__,
                "kept_extensions": sorted(KEPT),
                "shards": [{"file": f, "samples": listing(os.path.join(peer, f), True)} for f in shards]}
    with open(os.path.join(peer, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return shards


def write_sources():
    """The inputs our shards are written from."""
    src = os.path.join(OUT, "ours", "source")
    shutil.rmtree(src, ignore_errors=True)
    rng = np.random.default_rng(20240616)
    im = tiny_images(rng)
    files = {"folder/cat/a.jpg": im["jpg"][0], "folder/cat/b.png": im["png"][0], "folder/dog/c.webp": im["webp"][0],
             "folder/dog/sub/d.jpg": im["jpg"][1], "folder/eel/e.JPEG": im["jpg"][2], "folder/eel/f.png": im["png"][1],
             "coco/images/x.jpg": im["jpg"][3], "coco/images/y.png": im["png"][2]}
    for name, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    pixels = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    labels = np.array([2, 0, 1, 2, 1], dtype=np.uint8)
    idx_file(os.path.join(src, "idx/images-idx3-ubyte.gz"), pixels)
    idx_file(os.path.join(src, "idx/labels-idx1-ubyte.gz"), labels)
    with open(os.path.join(src, "idx/classnames.txt"), "w") as f:
        f.write("circle\nsquare\ntriangle\n")
    coco = {"images": [{"id": 11, "file_name": "y.png", "height": 5}, {"id": 4, "file_name": "x.jpg"}],
            "annotations": [{"image_id": 4, "id": 1, "caption": "noise in a JPEG"},
                            {"image_id": 11, "id": 2, "caption": "noise in a PNG"},
                            {"image_id": 4, "id": 3, "caption": "more noise"}]}
    with open(os.path.join(src, "coco/captions.json"), "w") as f:
        json.dump(coco, f)


def idx_file(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.tobytes())


# ---------------------------------------------------------------- --verify


class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        if not ok:
            self.items.append(what)


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data[4 + 4 * ndims:], dtype=np.uint8).reshape(dims)


def folder_order(root):
    """(path, label) in torchvision ImageFolder's order, as `bcos shards write --folder` writes them."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    out = []
    for label, c in enumerate(classes):
        for dirpath, dirnames, names in sorted(os.walk(os.path.join(root, c), followlinks=True)):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for n in sorted(names):
                if not n.startswith(".") and n.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                    out.append((os.path.join(dirpath, n), label))
    return classes, out


def verify(args):
    fail = Failures()
    split = os.path.join(args.verify, args.split)
    with open(os.path.join(split, "nshards.txt")) as f:
        nshards = int(f.read())
    with open(os.path.join(split, "sizes.json")) as f:
        sizes = json.load(f)
    urls = [os.path.join(split, f"{i}.tar") for i in range(nshards)]
    samples, per_shard = [], []
    for url in urls:
        got = [dict(s, __shard__=os.path.basename(url))
               for s in wds.WebDataset(url, shardshuffle=False, empty_check=False)]
        per_shard.append(len(got))
        samples += got
    fail.check(sorted(sizes) == sorted(os.path.basename(u) for u in urls), f"sizes.json names {sorted(sizes)}")
    for url, n in zip(urls, per_shard):
        fail.check(sizes.get(os.path.basename(url)) == n, f"{url}: sizes.json says {sizes.get(os.path.basename(url))}, "
                                                          f"webdataset reads {n} samples")
    for i, s in enumerate(samples):
        fail.check(s["__key__"] == f"s{i:07d}", f"sample {i} has key {s['__key__']}")
    classes = None
    if not args.coco:
        with open(os.path.join(args.verify, "classnames.txt")) as f:
            classes = f.read().splitlines()
        with open(os.path.join(args.verify, "zeroshot_classification_templates.txt")) as f:
            templates = f.read().splitlines()
        fail.check(templates and all("{c}" in t for t in templates), "templates without {c}")
    if args.folder:
        verify_folder(fail, samples, classes, args.folder)
    elif args.idx:
        verify_idx(fail, samples, classes, args)
    elif args.coco:
        verify_coco(fail, samples, args.coco)
    if args.listing:
        out = {"generator": "tools/ref/make_webdataset_fixtures.py --verify", "webdataset": wds.__version__,
               "args": args.shards_args.split() if args.shards_args else [],
               "shards": [{"file": os.path.basename(u), "samples": listing(u, False)} for u in urls]}
        with open(args.listing, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    for what in fail.items[:20]:
        print("FAIL:", what)
    print(f"{args.verify}/{args.split}: {len(samples)} samples in {nshards} shards read with webdataset "
          f"{wds.__version__}: {'all checks pass' if not fail.items else f'{len(fail.items)} failures'}")
    return 1 if fail.items else 0


def image_member(s):
    exts = [e for e in ("jpg", "jpeg", "png", "webp") if e in s]
    return (exts[0], s[exts[0]]) if len(exts) == 1 else (None, None)


def unmatched(fail, got, want, what):
    """Samples and source items are matched as multisets, so that a shuffled order (--shuffle) passes."""
    missing, extra = want - got, got - want
    fail.check(not missing and not extra, f"{sum(extra.values())} {what} not in the source, "
                                          f"{sum(missing.values())} of the source not written")


def verify_folder(fail, samples, classes, root):
    want_classes, order = folder_order(root)
    fail.check(classes == want_classes, f"classnames.txt {classes}, folders {want_classes}")
    want = Counter()
    for path, label in order:
        with open(path, "rb") as f:
            want[(os.path.splitext(path)[1][1:].lower(), hashlib.sha256(f.read()).hexdigest(), label)] += 1
    got = Counter()
    for s in samples:
        ext, data = image_member(s)
        fail.check(set(s) - {"__key__", "__url__", "__local_path__", "__shard__"} == {ext, "cls"},
                   f"{s['__key__']}: members {sorted(s)}")
        got[(ext, hashlib.sha256(data or b"").hexdigest(), int(s["cls"]))] += 1
    unmatched(fail, got, want, "(extension, image bytes, label)")


def verify_idx(fail, samples, classes, args):
    images, labels = read_idx(args.idx[0]), read_idx(args.idx[1])
    if args.classnames:
        with open(args.classnames) as f:
            fail.check(classes == f.read().splitlines(), f"classnames.txt {classes}")
    else:
        fail.check(len(classes) >= int(labels.max()) + 1, f"{len(classes)} class names")
    want = Counter((image.tobytes(), int(label)) for image, label in zip(images, labels))
    got = Counter()
    for s in samples:
        ext, data = image_member(s)
        fail.check(ext == "png", f"{s['__key__']}: .{ext}, expected a PNG")
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
        label = int(s["cls"])
        got[(pixels.tobytes() if pixels.shape == images.shape[1:] else b"", label)] += 1
        if "txt" in s:
            fail.check(classes[label] in s["txt"].decode(), f"{s['__key__']}: caption {s['txt']!r}")
    unmatched(fail, got, want, "(PNG pixels, label)")


def verify_coco(fail, samples, coco):
    images_dir, annotations = coco
    with open(annotations) as f:
        ann = json.load(f)
    caps = {}
    for a in ann["annotations"]:
        caps.setdefault(a["image_id"], []).append(re.sub(r"[\r\n]", " ", a["caption"]))
    want = Counter()
    for entry in ann["images"]:
        with open(os.path.join(images_dir, entry["file_name"]), "rb") as f:
            want[(hashlib.sha256(f.read()).hexdigest(), entry["id"], tuple(caps.get(entry["id"], [])))] += 1
    got = Counter()
    for s in samples:
        ext, data = image_member(s)
        meta = json.loads(s["json"])
        captions = tuple(s["txt"].decode().splitlines())
        fail.check(tuple(meta.get("captions", [])) == captions, f"{s['__key__']}: .json and .txt captions differ")
        got[(hashlib.sha256(data or b"").hexdigest(), meta.get("id"), captions)] += 1
    unmatched(fail, got, want, "(image bytes, id, captions)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--verify", metavar="OUT", help="read shards written by `bcos shards write` into OUT")
    p.add_argument("--split", default="test")
    p.add_argument("--folder")
    p.add_argument("--idx", nargs=2, metavar=("IMAGES", "LABELS"))
    p.add_argument("--classnames")
    p.add_argument("--coco", nargs=2, metavar=("IMAGES", "ANNOTATIONS"))
    p.add_argument("--listing", help="write webdataset's listing of the shards to this file")
    p.add_argument("--shards-args", help="the `bcos shards write` arguments (without --out) to record in the listing")
    args = p.parse_args()
    if args.verify:
        sys.exit(verify(args))
    shards = write_peer_fixtures()
    write_sources()
    print(f"{len(shards)} peer shards and the sources of ours in {OUT}; now write and verify ours (docs/DATA.md)")


if __name__ == "__main__":
    main()
