"""Writes the golden fixtures of CLIP's ResNet image tower (open_clip's ModifiedResNet) under tests/fixtures/clip/.

Re-run from the repository root (deterministic, CPU only, about a minute):

    .venv-ref/bin/python tools/ref/make_rn_fixtures.py

What it writes (see docs/FIXTURES.md):
  tiny_rn_openclip.safetensors    bcos-tiny-rn weights at random (BatchNorm running statistics too), open_clip
                                  state_dict names, F16 (num_batches_tracked kept, I64)
  tiny_rn_embeddings.safetensors  its inputs and float64-computed image and text embeddings (stored F32)
  rn50_formula.safetensors        RN50's image embeddings of formula images under formula weights (below),
                                  float64-computed, and a few probe values of the formula
  rn_shapes.json                  open_clip's state_dict names and shapes of RN50, RN101, RN50x4, RN50x16, RN50x64

RN50's weights are too large to commit, so they come from a formula that the C test computes too: every element
i of the tensor called NAME is u = ((splitmix64(fnv1a64(NAME) + i) >> 40) * 2^-23) - 1, exact in float32 and
uniform in [-1, 1), mapped to the tensor's range by the rules of formula_value (in float64, rounded once to
float32). The images are the tensor called "images", 2u.
"""

import json
import math
from pathlib import Path

import numpy as np
import open_clip
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "src" / "model" / "configs"
OUT_DIR = REPO / "tests" / "fixtures" / "clip"

TINY = "bcos-tiny-rn"
TINY_SEED = 2024
REAL_MODELS = ("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64")
FORMULA_MODEL = "RN50"
FORMULA_IMAGES = 2
PROBES = ("visual.conv1.weight", "visual.bn1.running_var", "visual.layer3.5.bn3.weight",
          "visual.attnpool.q_proj.bias", "images")
PROMPTS = ["a photo of a cat", "a diagram of a residual network", "", "x"]
MASK64 = (1 << 64) - 1


# ---- the formula (the C test, tests/golden/test_clip_resnet.c, computes the same numbers)

def fnv1a64(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def splitmix64(x):
    """Vectorised over a uint64 array (numpy wraps the products modulo 2^64)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def formula_uniform(name, n):
    with np.errstate(over="ignore"):
        index = np.arange(n, dtype=np.uint64) + np.uint64(fnv1a64(name))
        bits = splitmix64(index) >> np.uint64(40)
    return bits.astype(np.float64) * 2.0 ** -23 - 1.0


def formula_rule(name, shape):
    """(low, high) for a range, or (scale, None) for u * scale: sane activations through 16+ blocks."""
    is_bn = ".bn" in name or "downsample.1." in name
    if name == "images":
        return 2.0, None
    if name.endswith("running_var"):
        return 0.5, 1.5
    if name.endswith("running_mean") or name.endswith("bias"):
        return 0.1, None
    if is_bn and name.endswith("weight"):
        return (0.1, 0.3) if ".bn3." in name else (0.5, 1.0)
    if len(shape) == 4:  # convolutions: He, variance 2 / fan-in
        return math.sqrt(6.0 / math.prod(shape[1:])), None
    if name.endswith("positional_embedding"):
        return math.sqrt(1.0 / shape[1]), None
    if len(shape) == 2:  # attention pool projections: variance 1 / fan-in
        return math.sqrt(3.0 / shape[1]), None
    raise ValueError(f"no formula rule for {name}")


def formula_value(name, shape):
    u = formula_uniform(name, math.prod(shape))
    a, b = formula_rule(name, shape)
    v = u * a if b is None else a + (b - a) * ((u + 1.0) / 2.0)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


# ---- the tiny model, random weights

def f16_exact_nonzero(values):
    out = values.to(torch.float16).to(torch.float32)
    bad = (out == 0) | (out == 1)
    while bad.any():
        out[bad] = (torch.rand(int(bad.sum())) * 0.5 + 0.05).to(torch.float16).to(torch.float32)
        bad = (out == 0) | (out == 1)
    return out


def random_value(name, shape):
    """Text tower as make_clip_fixtures.py draws it; the ResNet tower with BatchNorm statistics that are not
    the defaults (mean 0, var 1), so that a kernel ignoring them fails."""
    if name == "logit_scale":
        return torch.empty(shape).uniform_(2.5, 4.5)
    if name.endswith("running_var"):
        return torch.empty(shape).uniform_(0.5, 1.5)
    if name.endswith("running_mean"):
        return 0.2 * torch.randn(shape)
    if (".bn" in name or "downsample.1." in name) and name.endswith("weight"):
        return torch.empty(shape).uniform_(0.5, 1.2)
    if name.endswith(("ln_1.weight", "ln_2.weight", "ln_final.weight")):
        return torch.empty(shape).uniform_(0.6, 1.4)
    if name.endswith("bias"):
        return 0.1 * torch.randn(shape)
    if name == "token_embedding.weight":
        return 0.5 * torch.randn(shape)
    if name.endswith("positional_embedding"):
        return 0.3 * torch.randn(shape)
    if name == "text_projection":
        return torch.randn(shape) / math.sqrt(shape[0])
    if name.endswith("weight"):
        return torch.randn(shape) * math.sqrt(2.0 / math.prod(shape[1:]))
    raise ValueError(f"no initialisation rule for {name}")


def build_tiny():
    torch.manual_seed(TINY_SEED)
    model = open_clip.create_model(TINY, pretrained=None).eval()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(f16_exact_nonzero(random_value(name, tuple(tensor.shape))))
    return model


def rel_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def encode64(model, images, ids=None):
    """Embeddings in float64; also prints how far open_clip's own float32 forward lands."""
    with torch.no_grad():
        f32 = model.float().encode_image(images)
        img = model.double().encode_image(images.double())
        txt = model.encode_text(ids) if ids is not None else None
    model.float()
    print(f"  open_clip float32 vs float64: image rel err {rel_error(f32.double(), img):.2e}")
    return img, txt


def make_tiny():
    open_clip.add_model_config(CONFIG_DIR / f"{TINY}.json")
    model = build_tiny()
    state = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in
             model.state_dict().items()}
    save_file(state, OUT_DIR / "tiny_rn_openclip.safetensors", metadata={"format": "pt"})
    g = torch.Generator().manual_seed(7)
    S = model.visual.image_size
    images = torch.cat([torch.randn(3, 3, S, S, generator=g), 2 * torch.rand(1, 3, S, S, generator=g) - 1])
    ids = open_clip.tokenize(PROMPTS)
    img, txt = encode64(model, images, ids)
    print(f"{TINY}: image embeddings max |x| {img.abs().max():.3g}")
    save_file({"images": images.contiguous(), "image_embeddings": img.float().contiguous(),
               "text_ids": ids.to(torch.int32).contiguous(), "text_embeddings": txt.float().contiguous(),
               "logit_scale": model.logit_scale.detach().float().clone()},
              OUT_DIR / "tiny_rn_embeddings.safetensors")


def make_formula():
    model = open_clip.create_model(FORMULA_MODEL, pretrained=None).eval()
    with torch.no_grad():
        for name, tensor in model.visual.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(formula_value("visual." + name, tuple(tensor.shape)))
    S = model.visual.image_size
    images = formula_value("images", (FORMULA_IMAGES, 3, S, S))
    captured = []
    hooks = [getattr(model.visual, f"layer{i}").register_forward_hook(
        lambda _m, _i, out: captured.append(out.std().item())) for i in (1, 2, 3, 4)]
    img, _ = encode64(model, images)
    for h in hooks:
        h.remove()
    print(f"{FORMULA_MODEL} formula: layer std {['%.3g' % s for s in captured[-4:]]}, embeddings max |x| "
          f"{img.abs().max():.3g}")
    state = {"visual." + k: v for k, v in model.visual.state_dict().items()}
    out = {"image_embeddings": img.float().contiguous()}
    for name in PROBES:
        source = images if name == "images" else state[name]
        out["probe." + name] = source.detach().flatten()[:8].float().contiguous()
    save_file(out, OUT_DIR / "rn50_formula.safetensors")


def make_shapes():
    shapes = {}
    for name in REAL_MODELS + tuple(n + "-quickgelu" for n in REAL_MODELS):
        with open(CONFIG_DIR / f"{name}.json") as f:
            assert json.load(f) == open_clip.get_model_config(name), f"src/model/configs/{name}.json differs"
    for name in REAL_MODELS:
        with torch.device("meta"):
            model = open_clip.create_model(name, pretrained=None, device="meta")
        shapes[name] = {"open_clip": {k: list(v.shape) for k, v in model.state_dict().items()}}
        print(f"{name}: {len(shapes[name]['open_clip'])} open_clip tensors")
    (OUT_DIR / "rn_shapes.json").write_text(json.dumps(shapes, indent=1) + "\n")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    make_shapes()
    make_tiny()
    make_formula()


if __name__ == "__main__":
    main()
