"""Writes the safetensors golden fixtures under tests/fixtures/safetensors/ with the Python
`safetensors` package and torch, and verifies files written by bcos's C writer.

Re-run from the repository root (deterministic, CPU only, a few seconds):

    .venv-ref/bin/python tools/ref/make_safetensors_fixtures.py

What it writes:
  py_written.safetensors   F32, F16, BF16 tensors (a 0-dim scalar, vectors, matrices, a 3-d and an
                           empty tensor, special values: infinities, NaN, signed zeros, subnormals,
                           the largest finite halves), one F64 and one I64 tensor (dtypes bcos lists
                           but does not convert), and "__metadata__"
  py_expected.json         per tensor: dtype, shape and, for F32/F16/BF16, the float32 bit pattern
                           of every element as torch decodes it; the metadata; and "c_layout": how
                           safetensors.torch.save lays out the F32/F16/BF16 tensors of the file with
                           the same metadata plus bcos's format_version (the file the C test writes)
  conversions.safetensors  f16_all/bf16_all: every 16-bit pattern, *_as_f32: torch's float32 decoding;
                           f32_probe: float32 values around every kind of rounding boundary (ties to
                           even, subnormals, overflow, NaN), *_as_f16 / *_as_bf16: torch's rounding
  versions.json            the torch and safetensors versions that produced the above

The reverse check (the C writer's file read by Python) cannot run in ctest, which has no torch.
tests/golden/test_safetensors_python.c writes /tmp/bcos_c_written.safetensors; then run

    .venv-ref/bin/python tools/ref/make_safetensors_fixtures.py --verify /tmp/bcos_c_written.safetensors

which loads it with safetensors.torch, compares every tensor bit for bit with py_written.safetensors,
checks the metadata (with format_version "1"), and checks that the header and data layout are those
safetensors.torch.save produces for the same tensors. It prints "verify: OK" or raises.
"""

import argparse
import json
import struct
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors import safe_open
from safetensors.torch import save, save_file

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "tests" / "fixtures" / "safetensors"
PY_WRITTEN = OUT_DIR / "py_written.safetensors"
METADATA = {"framework": "pt", "written_by": "tools/ref/make_safetensors_fixtures.py", "empty": ""}
FORMAT_KEY, FORMAT_VERSION = "format_version", "1"
CONVERTIBLE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
OTHER = {torch.float64: "F64", torch.int64: "I64"}


def special_values(dtype):
    """Infinities, NaN, signed zeros and the extremes of the dtype's range, as float32."""
    info = torch.finfo(dtype)
    values = [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"),
              info.max, -info.max, info.tiny, info.smallest_normal * info.eps, -info.smallest_normal * info.eps]
    return torch.tensor(values, dtype=torch.float32)


def fixture_tensors():
    g = torch.Generator().manual_seed(20240611)
    return {
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "vec_f32": torch.cat([torch.randn(7, generator=g), special_values(torch.float32)]),
        "mat_f16": torch.randn(3, 4, generator=g).to(torch.float16),
        "special_f16": special_values(torch.float16).to(torch.float16),
        "cube_bf16": (torch.randn(2, 3, 4, generator=g) * 100).to(torch.bfloat16),
        "special_bf16": special_values(torch.bfloat16).to(torch.bfloat16),
        "empty_f32": torch.zeros(0, 3, dtype=torch.float32),
        "layer.0.weight": torch.randn(2, 5, generator=g),
        "other_f64": torch.randn(3, generator=g, dtype=torch.float64),
        "other_i64": torch.tensor([1, -2, 1 << 40], dtype=torch.int64),
    }


def f32_bits(t):
    return [int(b) & 0xFFFFFFFF for b in t.to(torch.float32).reshape(-1).view(torch.int32).tolist()]


def c_layout(tensors):
    """Tensor order and offsets safetensors.torch.save uses for the tensors bcos can write."""
    meta = dict(METADATA, **{FORMAT_KEY: FORMAT_VERSION})
    data = save({k: v for k, v in tensors.items() if v.dtype in CONVERTIBLE}, metadata=meta)
    header, _ = split_file(data)
    names = [k for k in header if k != "__metadata__"]
    return {"header_bytes": struct.unpack("<Q", data[:8])[0], "order": names,
            "data_offsets": {k: header[k]["data_offsets"] for k in names}}


def write_expected(tensors):
    entries = {}
    for name, t in tensors.items():
        entry = {"dtype": (CONVERTIBLE | OTHER)[t.dtype], "shape": list(t.shape)}
        if t.dtype in CONVERTIBLE:
            entry["f32_bits"] = f32_bits(t)
        entries[name] = entry
    expected = {"metadata": METADATA, "tensors": entries, "c_layout": c_layout(tensors)}
    (OUT_DIR / "py_expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def f32_from_bits(bits):
    return torch.from_numpy(np.asarray(bits, dtype=np.uint32).view(np.float32).copy())


def f32_probe():
    """float32 values on and around the rounding boundaries of float16 and bfloat16."""
    rng = np.random.default_rng(7)
    bits = [0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000, 0x00000001, 0x80000001, 0x7F7FFFFF, 0xFF7FFFFF]
    # float16: exact halfway points between neighbours (ties), and one float32 ulp either side.
    halves = rng.integers(0, 0x7C00, size=3000, dtype=np.uint32)
    halves = np.concatenate([halves, np.arange(0, 0x400, 7, dtype=np.uint32), [0x7BFE, 0x7BFF, 0x3FF, 0x400, 0]])
    for h in halves:
        lo = torch.tensor(int(h), dtype=torch.int16).view(torch.float16).float().item()
        hi = torch.tensor(int(h) + 1, dtype=torch.int16).view(torch.float16).float().item() if h < 0x7BFF else 65520.0
        mid = struct.unpack("<I", struct.pack("<f", (lo + hi) / 2))[0]  # exact: float32 has 13 more bits
        for b in (mid - 1, mid, mid + 1):
            bits += [b, b | 0x80000000]
    # bfloat16: the same three points around each tie.
    for h in rng.integers(0, 0x7F80, size=3000, dtype=np.uint32):
        mid = (int(h) << 16) | 0x8000
        for b in (mid - 1, mid, mid + 1):
            bits += [b, b | 0x80000000]
    # Anything at all: uniform bit patterns over every exponent.
    bits += rng.integers(0, 1 << 32, size=4000, dtype=np.uint64).tolist()
    return f32_from_bits([int(b) & 0xFFFFFFFF for b in bits])


def write_conversions():
    all16 = torch.arange(0, 1 << 16, dtype=torch.int32).to(torch.int16)
    f16_all, bf16_all = all16.view(torch.float16), all16.clone().view(torch.bfloat16)
    probe = f32_probe()
    save_file({
        "f16_all": f16_all, "f16_all_as_f32": f16_all.float(),
        "bf16_all": bf16_all, "bf16_all_as_f32": bf16_all.float(),
        "f32_probe": probe, "f32_probe_as_f16": probe.half(), "f32_probe_as_bf16": probe.bfloat16(),
    }, OUT_DIR / "conversions.safetensors")


def split_file(data):
    """(header as a dict, data section) of safetensors bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def save_if_changed(tensors, metadata, path):
    """Writes the file unless the one there holds the same: the package writes metadata keys in
    random (hash) order, which would otherwise change the committed bytes on every run."""
    data = save(tensors, metadata=metadata)
    if not path.exists() or split_file(path.read_bytes()) != split_file(data):
        path.write_bytes(data)


def generate():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    tensors = fixture_tensors()
    save_if_changed(tensors, METADATA, PY_WRITTEN)
    write_expected(tensors)
    write_conversions()
    versions = {"torch": torch.__version__, "safetensors": safetensors.__version__}
    (OUT_DIR / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(f"wrote {OUT_DIR}")


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    width = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.contiguous().view(width), b.contiguous().view(width))


def verify(path):
    """Checks a file bcos's C writer produced from py_written.safetensors (see the docstring)."""
    reference = {}
    with safe_open(PY_WRITTEN, "pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if t.dtype in CONVERTIBLE:
                reference[name] = t
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
        written = {name: f.get_tensor(name) for name in f.keys()}
    expected_meta = dict(METADATA, **{FORMAT_KEY: FORMAT_VERSION})
    assert metadata == expected_meta, f"metadata {metadata} != {expected_meta}"
    assert written.keys() == reference.keys(), f"tensors {sorted(written)} != {sorted(reference)}"
    for name, t in reference.items():
        assert same_bits(written[name], t), f"tensor {name} differs"
    raw, python = Path(path).read_bytes(), save(reference, metadata=expected_meta)
    (n,) = struct.unpack("<Q", raw[:8])
    (m,) = struct.unpack("<Q", python[:8])
    assert n % 8 == 0 and n == m, f"header length {n}, safetensors writes {m}"
    (header, data), (python_header, python_data) = split_file(raw), split_file(python)
    assert data == python_data, "data section differs from safetensors.torch.save"
    assert list(header) == list(python_header), f"key order {list(header)} != {list(python_header)}"
    assert header == python_header, "header differs from safetensors.torch.save"
    print(f"verify: OK ({len(written)} tensors, {len(raw)} bytes, safetensors {safetensors.__version__})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", metavar="PATH", help="check a file written by the C test instead of generating")
    args = parser.parse_args()
    if args.verify:
        verify(args.verify)
    else:
        generate()


if __name__ == "__main__":
    main()
