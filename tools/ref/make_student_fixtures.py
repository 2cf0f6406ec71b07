"""Whole-student golden fixtures: the B-cos student of the tiny CLIP, written in torch from docs/METHOD.md's formulas.

Writes tests/fixtures/student/student.safetensors, read by tests/golden/test_student_torch.c. The teacher is
tests/fixtures/clip/tiny_openclip.safetensors loaded into open_clip (config src/model/configs/bcos-tiny.json);
its image tower is B-cosified here from the formulas, independently of the C code, and run in float64:

  input        x6 = [u, 1 - u] for random pixels u in [0, 1] (drawn in float32, stored as given)
  conv1        B-cos patch unit on x6 with the folded weights V = W_c (1 - mean_c) / std_c on u_c and
               -W_c mean_c / std_c on (1 - u_c); its norm sqrt(sum over the window of x6^2 + 1e-6)
  B-cos unit   z = w . x, n = sqrt(sum x^2) + 1e-12, y = (|z| / n + 1e-6)^(B-1) z, no bias, no weight
               normalisation: attn out_proj, mlp c_fc, mlp c_proj and (unless plain) proj
  q, k, v      plain linear maps (in_proj), softmax attention
  LayerNorm    mean subtraction and gamma, no beta
  biases       removed, or kept and added after their unit times the bias scale (LayerNorm betas too)
  activation   QuickGELU x sigmoid(1.702 x), or the exact GELU x Phi(x) (case d, bcos-tiny-gelu); class and
               positional embeddings kept

Pieces taken from the official B-cos v2 package (PyPI `bcos`):
  - bcos.models.vit.Encoder, the pre-norm block (x + attn(x); x + ff(x)) with its Attention (norm -> to_qkv
    -> softmax attention -> to_out) and FeedForward (norm -> linear1 -> act -> linear2). Its to_qkv is a
    bias-free nn.Linear: exactly the student's plain in_proj (wrapped here with a scaled bias when biases are
    kept). Its Attention detaches q and k in explanation mode (the attention matrix held constant).
  - bcos.modules.norms.centered_norms.DetachableLayerNorm(bias=False) for ln_pre, ln_1, ln_2, ln_post: the
    LayerNorm without beta whose explanation mode detaches the variance (1/sigma held constant, mean kept).
  - bcos.modules.common.DetachableModule as the base of the pieces written here, and bcos.common.BcosUtilMixin
    for the student, whose explanation_mode() context switches every detachable piece at once.
Written here from the formulas, because the package's module differs in definition or has no such piece:
  - the B-cos linear and patch units (the package's BcosLinear/BcosConv2d normalise each weight row to unit
    norm; the B-cosified student does not);
  - QuickGELU and GELU with a detachable gate (the package has no such activations);
  - the scaled biases, the six-channel folding of CLIP's normalisation, class/positional embeddings, pooling.
The structure is checked against open_clip itself: with B = 1 and biases kept at scale 1 the student must
reproduce open_clip's encode_image of (u - mean) / std (asserted to 1e-10 in float64).

Cases (B = 2 images each; the tensor "<case>.config" holds [B, keep_biases, bias_scale, plain_proj]):
  a: B = 2, biases removed, B-cos proj     b: B = 1.5, biases kept at scale 0.6, B-cos proj
  c: B = 2.5, biases removed, plain proj     d: bcos-tiny-gelu (exact GELU), B = 2, biases kept at scale 0.6
For each: "<case>.x6", "<case>.R" (random), "<case>.out" (the embeddings), "<case>.dx6" and "<case>.grad.<name>",
the gradients of L = sum(out * R) by torch autograd for x6 and every parameter, under the C student's names
(open_clip's; "visual.proj" in the C layout [embed, width], the transpose of open_clip's).
Explanation mode for cases a, b and d, with the dynamic factors detached (B-cos scales, LayerNorm 1/sigma, the
QuickGELU gate, the attention matrix): "<case>.explain.D" (a random direction per image), "<case>.explain.dx6",
the gradient of each image's score out . D with respect to x6, and "<case>.explain.const", each image's share
of the score carried by the constants (class and positional embeddings, kept scaled biases), computed as
sum over those parameters p of p * d(score)/dp; completeness (sum x6 * dx6 + const = score) is asserted.
Everything is computed in float64 and stored as F32.

Re-run from the repository root (deterministic, CPU only, a few seconds):
    .venv-ref/bin/python tools/ref/make_student_fixtures.py
"""
import json
import math
from importlib.metadata import version
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from bcos.common import BcosUtilMixin
from bcos.models.vit import Encoder
from bcos.modules.common import DetachableModule
from bcos.modules.norms.centered_norms import DetachableLayerNorm
from safetensors.torch import load_file, save_file
from torch import nn

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "src" / "model" / "configs"
TEACHER = REPO / "tests" / "fixtures" / "clip" / "tiny_openclip.safetensors"
OUT = REPO / "tests" / "fixtures" / "student" / "student.safetensors"

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LN_EPS = 1e-5
COS_EPS = 1e-6  # added to |z|/n before the power
TOKEN_NORM_EPS = 1e-12  # after the root
WINDOW_NORM_EPS = 1e-6  # under the root
IMAGES = 2
SEED = 2024
CASES = {  # name -> (B, keep_biases, bias_scale, plain_proj, explain, config)
    "a": (2.0, False, 0.0, False, True, "bcos-tiny"),
    "b": (1.5, True, 0.6, False, True, "bcos-tiny"),
    "c": (2.5, False, 0.0, True, False, "bcos-tiny"),
    "d": (2.0, True, 0.6, False, True, "bcos-tiny-gelu"),
}


def bcos_scale(z, n, b, detach):
    """(|z|/n + 1e-6)^(B-1) * z; explanation mode holds the factor constant."""
    factor = (z.abs() / n + COS_EPS) ** (b - 1)
    return (factor.detach() if detach else factor) * z


class BcosUnit(DetachableModule):
    """B-cos linear unit over a token's features, weight [out, in], no bias, no weight normalisation."""

    def __init__(self, in_features, out_features, bias=False):
        super().__init__()
        assert not bias, "the unit itself has no bias; kept biases are added after it"
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.b = 2.0

    def forward(self, x):
        n = torch.linalg.vector_norm(x, dim=-1, keepdim=True) + TOKEN_NORM_EPS
        return bcos_scale(x @ self.weight.T, n, self.b, self.detach)


class BcosPatchUnit(DetachableModule):
    """B-cos patch unit: stride-P, size-P convolution of x6, the norm over each 6 x P x P window."""

    def __init__(self, width, patch):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width, 6, patch, patch))
        self.patch = patch
        self.b = 2.0

    def forward(self, x6):
        z = F.conv2d(x6, self.weight, stride=self.patch)
        window = torch.ones((1,) + tuple(self.weight.shape[1:]), dtype=x6.dtype)
        n = torch.sqrt(F.conv2d(x6 * x6, window, stride=self.patch) + WINDOW_NORM_EPS)
        return bcos_scale(z, n, self.b, self.detach).flatten(2).transpose(1, 2)  # [B, patches, width]


class DetachableQuickGELU(DetachableModule):
    """x * sigmoid(1.702 x); explanation mode holds the gate constant."""

    def forward(self, x):
        gate = torch.sigmoid(1.702 * x)
        return x * (gate.detach() if self.detach else gate)


class DetachableGELU(DetachableModule):
    """The exact (erf) GELU x * Phi(x) of LAION's towers; explanation mode holds the gate Phi(x) constant."""

    def forward(self, x):
        gate = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        return x * (gate.detach() if self.detach else gate)


class ScaledBias(nn.Module):
    """inner(x) + scale * bias, or inner(x) alone when the student removes this bias."""

    def __init__(self, inner, features, keep):
        super().__init__()
        self.inner = inner
        self.bias = nn.Parameter(torch.zeros(features)) if keep else None
        self.scale = 0.0

    def forward(self, x):
        y = self.inner(x)
        return y + self.scale * self.bias if self.bias is not None else y


class BcosStudent(BcosUtilMixin, nn.Module):
    def __init__(self, cfg, keep_biases, plain_proj):
        super().__init__()
        v = cfg["vision_cfg"]
        act = DetachableQuickGELU if cfg.get("quick_gelu", False) else DetachableGELU
        width, patch, grid = v["width"], v["patch_size"], v["image_size"] // v["patch_size"]
        heads = width // v["head_width"]

        def biased(inner, features):
            return ScaledBias(inner, features, keep_biases)

        def norm(dim):  # the package's Encoder builds its norms, units and activations with these
            return biased(DetachableLayerNorm(dim, eps=LN_EPS, bias=False), dim)

        def unit(in_features, out_features, bias=False):
            return biased(BcosUnit(in_features, out_features, bias), out_features)

        self.conv1 = BcosPatchUnit(width, patch)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = norm(width)
        self.blocks = nn.ModuleList()
        for _ in range(v["layers"]):
            block = Encoder(width, heads, v["head_width"], int(width * v.get("mlp_ratio", 4.0)),
                            linear_layer=unit, norm_layer=norm, act_layer=act)
            block.attn.to_qkv = biased(block.attn.to_qkv, 3 * width)  # the package's bias-free nn.Linear
            self.blocks.append(block)
        self.ln_post = norm(width)
        proj = nn.Linear(width, cfg["embed_dim"], bias=False) if plain_proj else BcosUnit(width, cfg["embed_dim"])
        self.proj = proj

    def set_exponent_and_bias_scale(self, b, bias_scale):
        for m in self.modules():
            if isinstance(m, (BcosUnit, BcosPatchUnit)):
                m.b = b
            if isinstance(m, ScaledBias):
                m.scale = bias_scale

    def forward(self, x6):
        tokens = self.conv1(x6)
        cls = self.class_embedding.expand(tokens.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, tokens], dim=1) + self.positional_embedding)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.ln_post(x[:, 0]))

    def named_like_c(self):
        """The parameters under the C student's names (open_clip's), in its declaration order."""
        out = {"visual.class_embedding": self.class_embedding, "visual.positional_embedding": self.positional_embedding,
               "visual.conv1.weight": self.conv1.weight, "visual.ln_pre.weight": self.ln_pre.inner.weight,
               "visual.ln_pre.bias": self.ln_pre.bias}
        for l, blk in enumerate(self.blocks):
            p = f"visual.transformer.resblocks.{l}."
            attn, ff = blk.attn, blk.ff.net
            for name, mod in [("ln_1", attn.norm), ("ln_2", ff.norm), ("attn.out_proj", attn.to_out),
                              ("mlp.c_fc", ff.linear1), ("mlp.c_proj", ff.linear2)]:
                out[p + name + ".weight"] = mod.inner.weight
                out[p + name + ".bias"] = mod.bias
            out[p + "attn.in_proj_weight"] = attn.to_qkv.inner.weight
            out[p + "attn.in_proj_bias"] = attn.to_qkv.bias
        out["visual.ln_post.weight"] = self.ln_post.inner.weight
        out["visual.ln_post.bias"] = self.ln_post.bias
        out["visual.proj"] = self.proj.weight
        return {k: v for k, v in out.items() if v is not None}


def fold_normalisation(w):
    """Six-channel patch weights V with V . [u, 1 - u] = W . ((u - mean) / std)."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return torch.cat([w * (1 - mean) / std, -w * mean / std], dim=1)


def load_teacher(name):
    """The tiny teacher's weights in open_clip under the built-in config `name`, and that config."""
    open_clip.add_model_config(CONFIGS / f"{name}.json")
    model = open_clip.create_model(name, pretrained=None)
    model.load_state_dict(load_file(TEACHER), strict=True)
    return model.double().eval(), json.loads((CONFIGS / f"{name}.json").read_text())


def bcosify(teacher, cfg, keep_biases, plain_proj):
    """The student with the teacher's weights copied by name (conv1 folded, proj transposed)."""
    student = BcosStudent(cfg, keep_biases, plain_proj)
    state = teacher.state_dict()
    with torch.no_grad():
        for name, param in student.named_like_c().items():
            src = state[name]
            if name == "visual.conv1.weight":
                src = fold_normalisation(src)
            elif name == "visual.proj":
                src = src.T
            param.copy_(src)
    return student


def rel_error(a, b):
    """Relative error (docs/METHOD.md, Notation): max|a - b| / max|b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def random_x6(gen):
    u = torch.rand(IMAGES, 3, 32, 32, generator=gen, dtype=torch.float32)
    return torch.cat([u, 1 - u], dim=1)  # float32, stored as it is


def check_reproduces_teacher(teacher, cfg, gen):
    """B = 1 with every bias kept at scale 1 is the original tower: the reference's structure checked."""
    student = bcosify(teacher, cfg, keep_biases=True, plain_proj=False)
    student.set_exponent_and_bias_scale(1.0, 1.0)
    x6 = random_x6(gen).double()
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float64).view(1, 3, 1, 1)
    with torch.no_grad():
        err = rel_error(student(x6), teacher.encode_image((x6[:, :3] - mean) / std))
    print(f"B=1 student with biases vs open_clip encode_image: rel err {err:.2e}")
    assert err < 1e-10, err


def training_case(student, x6, R):
    """out and the gradients of sum(out * R) for x6 and every parameter."""
    params = student.named_like_c()
    x = x6.double().requires_grad_(True)
    out = student(x)
    grads = torch.autograd.grad((out * R.double()).sum(), [x] + list(params.values()))
    tensors = {"out": out.detach(), "dx6": grads[0]}
    tensors.update({f"grad.{name}": g for name, g in zip(params, grads[1:])})
    return tensors


def explain_case(student, x6, D, out_train):
    """In explanation mode: each image's d(score)/dx6 and the constants' share of its score."""
    params = student.named_like_c()
    consts = [p for n, p in params.items() if n.endswith(("class_embedding", "positional_embedding", "bias"))]
    x = x6.double().requires_grad_(True)
    with student.explanation_mode():
        out = student(x)
    assert rel_error(out, out_train) < 1e-12, "explanation mode changes only the backward"
    scores = (out * D.double()).sum(dim=1)
    dx6, const = torch.zeros_like(x), torch.zeros(IMAGES, dtype=torch.float64)
    for i in range(IMAGES):  # class/positional embeddings and biases are shared: one backward per image
        grads = torch.autograd.grad(scores[i], [x] + consts, retain_graph=True)
        dx6[i] = grads[0][i]
        const[i] = sum((p * g).sum() for p, g in zip(consts, grads[1:]))
    terms = (x.detach() * dx6).flatten(1)
    completeness = ((terms.sum(1) + const - scores.detach()).abs() / (terms.abs().sum(1) + const.abs())).max()
    print(f"  explanation: completeness {completeness.item():.2e}, const share {const.tolist()}")
    assert completeness < 1e-12, completeness
    return {"explain.D": D, "explain.dx6": dx6, "explain.const": const}


def main():
    torch.set_default_dtype(torch.float64)
    teachers = {name: load_teacher(name) for name in ("bcos-tiny", "bcos-tiny-gelu")}
    gen = torch.Generator().manual_seed(SEED)
    check_reproduces_teacher(*teachers["bcos-tiny"], gen)
    check_reproduces_teacher(*teachers["bcos-tiny-gelu"], torch.Generator().manual_seed(SEED + 1))
    tensors = {}
    for case, (b, keep_biases, bias_scale, plain_proj, explain, name) in CASES.items():
        print(f"case {case} ({name}): B={b} keep_biases={keep_biases} bias_scale={bias_scale} plain_proj={plain_proj}")
        teacher, cfg = teachers[name]
        student = bcosify(teacher, cfg, keep_biases, plain_proj)
        student.set_exponent_and_bias_scale(b, bias_scale)
        x6 = random_x6(gen)
        R = torch.randn(IMAGES, cfg["embed_dim"], generator=gen, dtype=torch.float32)
        found = {"config": torch.tensor([b, float(keep_biases), bias_scale, float(plain_proj)]), "x6": x6, "R": R}
        found.update(training_case(student, x6, R))
        if explain:
            D = torch.randn(IMAGES, cfg["embed_dim"], generator=gen, dtype=torch.float32)
            found.update(explain_case(student, x6, D, found["out"]))
        tensors.update({f"{case}.{k}": v for k, v in found.items()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    versions = {p: version(p) for p in ("torch", "open_clip_torch", "bcos", "safetensors")}
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, OUT,
              metadata={"generator": "tools/ref/make_student_fixtures.py", "versions": json.dumps(versions)})
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size} bytes), versions {versions}")


if __name__ == "__main__":
    main()
