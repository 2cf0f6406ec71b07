"""Golden fixtures of the B-cos ResNet student: a small CLIP ModifiedResNet teacher and its B-cosified copy in torch.

Writes tests/fixtures/rn_student/rn_student.safetensors, read by tests/golden/test_rn_student_torch.c. The teacher is
open_clip's own ModifiedResNet (config below: width 4, layers [2, 1, 1, 1], image 64, 4 heads, embed 16) with every
parameter and BatchNorm statistic drawn at random in float32; its image tower is B-cosified here from the method
(docs/METHOD.md, "The ResNet student"), independently of the C code, and run in float64:

  input           x6 = [u, 1 - u] for random pixels u in [0, 1] (drawn in float32, stored as given)
  stem conv1      a B-cos convolution on x6 whose weights fold CLIP's normalisation in: V = W_c (1 - mean_c) / std_c
                  on u_c and -W_c mean_c / std_c on (1 - u_c); the zero padding stays exact (0 in both spaces)
  every conv      a B-cos convolution: z = W * x (no weight normalisation), n = sqrt(sum over the input window,
                  all channels x kernel, of x^2 + 1e-6), y = (|z| / n + 1e-6)^(B-1) z
  BatchNorm       uncentered: y = gamma x / sqrt(var + eps) (+ scale * beta' when biases are kept, beta' = beta -
                  gamma running_mean / sqrt(running_var + eps), so that B = 1 reproduces the teacher); training
                  mode: biased batch variance over (N, H, W) around the batch mean, running_var <- 0.9 running_var
                  + 0.1 var; evaluation and explanation: running_var
  ReLU, avgpools  kept
  attention pool  the reference's B-cos pool: tokens = [mean over the map; the map's positions], no positional
                  embedding (kept, with biases, for the conversion check), q from the mean token only, k and v from
                  every token, no q/k/v biases (kept and scaled when biases are kept), softmax attention per head,
                  c_proj plain (or a B-cos unit over the token's features, norm sqrt(sum x^2) + 1e-12); explanation
                  mode detaches q and k (the attention weights are constants)

Pieces taken from the official B-cos v2 package (PyPI `bcos`):
  - bcos.modules.norms.uncentered_norms.BatchNormUncentered2d, every uncentered BatchNorm as it is (its bias
    removed: a kept bias is added after it, times the bias scale);
  - bcos.modules.bcosconv2d.BcosConv2d: its window norm (calc_patch_norms) and its detach switch. Its inner conv is
    replaced by a plain nn.Conv2d and its scaling written here, as the B-cosified student's: the package's unit
    normalises each weight to unit norm and drops the 1e-6 at B = 2, which the student (and our ViT units) do not;
  - bcos.modules.common.DetachableModule for the attention pool, and bcos.common.BcosUtilMixin for the student,
    whose explanation_mode() switches every detachable piece at once.
The structure is checked against open_clip: with B = 1, biases kept at scale 1 and the positional embedding kept,
the evaluation-mode student must equal open_clip's ModifiedResNet on (u - mean) / std (asserted to 1e-10).

Cases (the same two images "x6" for every case; "<case>.config" holds [B, keep_biases, bias_scale, bcos_c_proj]):
  a: B = 2, biases removed, plain c_proj        b: B = 1.5, biases kept at scale 0.6, B-cos c_proj
  c: B = 3, biases removed, plain c_proj        d: B = 1, biases removed, B-cos c_proj
For each, in training mode (batch statistics): "<case>.R" (random), "<case>.out" (embeddings), "<case>.grad.<name>"
the gradients of L = sum(out * R) for every parameter (open_clip names), "<case>.dx6" (cases a and b), and
"<case>.running_var.<bn name>" the running variances after that one step. In evaluation/explanation mode (running
variances as drawn): "<case>.eval.out", "<case>.explain.D" (a direction per image), "<case>.explain.dx6" the gradient
of each image's score out . D for x6 with every dynamic factor detached, and "<case>.explain.const", the share of
the score carried by the constants (kept biases), sum over them of p * d(score)/dp; completeness is asserted.
"<case>.torch_f32_error": [embeddings, worst gradient] relative error of torch's own float32 run of the training
step against float64. "<case>.f32_floor": the same errors of a float64 run in which only each module's output is
rounded to float32, the least any implementation that stores its activations in float32 can reach. In training mode
it exceeds 2e-6 in every case (batch statistics and the B-cos exponent amplify rounding, and the gradients of the
BatchNorm weights and the query projection are small differences of large terms), so the C student's training
tensors are held to a multiple of this floor; its evaluation and explanation tensors to 2e-6.
"convert.out": open_clip's encode of the images, for the conversion check. "teacher.*": the teacher's visual.*
weights and buffers (open_clip names; running_mean too). Everything is computed in float64 and stored as F32.

Re-run from the repository root (deterministic, CPU only, a few seconds):
    .venv-ref/bin/python tools/ref/make_rn_student_fixtures.py
"""
import json
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn.functional as F
from bcos.common import BcosUtilMixin
from bcos.modules.bcosconv2d import BcosConv2d
from bcos.modules.common import DetachableModule
from bcos.modules.norms.uncentered_norms import BatchNormUncentered2d
from open_clip.modified_resnet import ModifiedResNet
from safetensors.torch import save_file
from torch import nn

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "rn_student" / "rn_student.safetensors"

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BN_EPS = 1e-5
MOMENTUM = 0.1
COS_EPS = 1e-6  # added to |z|/n before the power
TOKEN_NORM_EPS = 1e-12  # the B-cos c_proj's token norm, after the root
CONFIG = {"layers": [2, 1, 1, 1], "width": 4, "image_size": 64, "heads": 4, "output_dim": 16}
IMAGES = 2
SEED = 2026
CASES = {  # name -> (B, keep_biases, bias_scale, bcos_c_proj, dx6)
    "a": (2.0, False, 0.0, False, True),
    "b": (1.5, True, 0.6, True, True),
    "c": (3.0, False, 0.0, False, False),
    "d": (1.0, False, 0.0, True, False),
}


def bcos_scale(z, n, b, detach):
    """(|z|/n + 1e-6)^(B-1) * z; explanation mode holds the factor constant."""
    factor = (z.abs() / n + COS_EPS) ** (b - 1)
    return (factor.detach() if detach else factor) * z


class StudentConv(BcosConv2d):
    """The package's B-cos conv with a plain inner convolution (weights copied as they are) and the student's
    scaling; the window norm is the package's calc_patch_norms, sqrt(sum over the window of x^2 + 1e-6)."""

    def __init__(self, conv):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
        self.linear = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                bias=False)

    def forward(self, x):
        return bcos_scale(self.linear(x), self.calc_patch_norms(x), self.b, self.detach)


class BcosTokenUnit(DetachableModule):
    """The B-cos c_proj option: a unit over a token's features, z = W x, n = ||x|| + 1e-12."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.b = 2.0

    def forward(self, x):
        n = torch.linalg.vector_norm(x, dim=-1, keepdim=True) + TOKEN_NORM_EPS
        return bcos_scale(x @ self.weight.T, n, self.b, self.detach)


class PlainLinear(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, x):
        return x @ self.weight.T


class ScaledBias(nn.Module):
    """inner(x) + scale * bias (broadcast over channels at dim `dim`), or inner(x) when the bias is removed."""

    def __init__(self, inner, bias, dim):
        super().__init__()
        self.inner = inner
        self.bias = nn.Parameter(bias.clone()) if bias is not None else None
        self.dim = dim
        self.scale = 0.0

    def forward(self, x):
        y = self.inner(x)
        if self.bias is None:
            return y
        shape = [1] * y.dim()
        shape[self.dim] = -1
        return y + self.scale * self.bias.view(shape)


def uncentered_bn(bn, keep_bias):
    """The package's uncentered BatchNorm with the teacher's gamma and running variance; the running mean folded
    into the kept bias (beta - gamma mean / sqrt(var + eps)), which B-cos drops otherwise."""
    new = BatchNormUncentered2d(bn.num_features, eps=BN_EPS, momentum=MOMENTUM)
    new.register_parameter("bias", None)
    with torch.no_grad():
        new.weight.copy_(bn.weight)
        new.running_var.copy_(bn.running_var)
        new.running_mean.zero_()
    folded = bn.bias - bn.weight * bn.running_mean / torch.sqrt(bn.running_var + BN_EPS) if keep_bias else None
    return ScaledBias(new, folded.detach() if folded is not None else None, 1)


class BcosAttnPool(DetachableModule):
    """The reference's B-cos attention pool, written from the method: tokens = [mean; positions], q from the mean
    token, k and v from all tokens, softmax per head, then c_proj; q and k detached in explanation mode."""

    def __init__(self, pool, keep_biases, keep_pos, bcos_c_proj):
        super().__init__()
        self.heads = pool.num_heads

        def proj(lin):
            return ScaledBias(PlainLinear(lin.weight), lin.bias if keep_biases else None, -1)

        self.q_proj, self.k_proj, self.v_proj = proj(pool.q_proj), proj(pool.k_proj), proj(pool.v_proj)
        unit = BcosTokenUnit(pool.c_proj.weight) if bcos_c_proj else PlainLinear(pool.c_proj.weight)
        self.c_proj = ScaledBias(unit, pool.c_proj.bias if keep_biases else None, -1)
        self.positional_embedding = nn.Parameter(pool.positional_embedding.clone()) if keep_pos else None

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)  # [N, HW, C]
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)  # [N, 1 + HW, C]
        if self.positional_embedding is not None:
            tokens = tokens + self.positional_embedding
        q, k, v = self.q_proj(tokens[:, :1]), self.k_proj(tokens), self.v_proj(tokens)
        if self.detach:  # the attention weights held constant (kept q/k biases included)
            q, k = q.detach(), k.detach()
        N, T, C = v.shape
        hd = C // self.heads
        q = q.view(N, 1, self.heads, hd).transpose(1, 2)
        k = k.view(N, T, self.heads, hd).transpose(1, 2)
        v = v.view(N, T, self.heads, hd).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, dim=-1)  # [N, heads, 1, T]
        return self.c_proj((att @ v).transpose(1, 2).reshape(N, C))


class Bottleneck(nn.Module):
    def __init__(self, blk, keep_biases):
        super().__init__()
        self.conv1, self.bn1 = StudentConv(blk.conv1), uncentered_bn(blk.bn1, keep_biases)
        self.conv2, self.bn2 = StudentConv(blk.conv2), uncentered_bn(blk.bn2, keep_biases)
        self.avgpool = blk.avgpool
        self.conv3, self.bn3 = StudentConv(blk.conv3), uncentered_bn(blk.bn3, keep_biases)
        self.downsample = None
        if blk.downsample is not None:
            pool, conv, bn = blk.downsample
            self.downsample = nn.ModuleDict({"pool": pool, "conv": StudentConv(conv), "bn": uncentered_bn(bn, keep_biases)})

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x
        if self.downsample is not None:
            identity = self.downsample["bn"](self.downsample["conv"](self.downsample["pool"](x)))
        return F.relu(out + identity)


class RnStudent(BcosUtilMixin, nn.Module):
    def __init__(self, teacher, keep_biases, keep_pos, bcos_c_proj):
        super().__init__()
        conv1 = StudentConv(teacher.conv1)
        conv1.in_channels = 6
        conv1.linear = nn.Conv2d(6, conv1.out_channels, 3, 2, 1, bias=False)
        self.stem = nn.ModuleList([conv1, StudentConv(teacher.conv2), StudentConv(teacher.conv3)])
        self.stem_bn = nn.ModuleList([uncentered_bn(bn, keep_biases) for bn in (teacher.bn1, teacher.bn2, teacher.bn3)])
        self.layers = nn.ModuleList([nn.ModuleList([Bottleneck(b, keep_biases) for b in layer])
                                     for layer in (teacher.layer1, teacher.layer2, teacher.layer3, teacher.layer4)])
        self.attnpool = BcosAttnPool(teacher.attnpool, keep_biases, keep_pos, bcos_c_proj)
        teacher_state = teacher.state_dict()
        with torch.no_grad():
            for name, param in self.named_like_c().items():
                if name.endswith(".weight"):
                    src = teacher_state[name.removeprefix("visual.")]
                    param.copy_(fold_normalisation(src) if name == "visual.conv1.weight" else src)

    def set_exponent_and_bias_scale(self, b, bias_scale):
        for m in self.modules():
            if isinstance(m, (StudentConv, BcosTokenUnit)):
                m.b = b
            if isinstance(m, ScaledBias):
                m.scale = bias_scale

    def forward(self, x6):
        x = x6
        for conv, bn in zip(self.stem, self.stem_bn):
            x = F.relu(bn(conv(x)))
        x = F.avg_pool2d(x, 2)
        for layer in self.layers:
            for blk in layer:
                x = blk(x)
        return self.attnpool(x)

    def named_modules_like_c(self):
        """Convolutions, norms and the pool's linear maps under open_clip's names."""
        out = {}
        for i, (conv, bn) in enumerate(zip(self.stem, self.stem_bn)):
            out[f"visual.conv{i + 1}"], out[f"visual.bn{i + 1}"] = conv, bn
        for li, layer in enumerate(self.layers):
            for bi, blk in enumerate(layer):
                p = f"visual.layer{li + 1}.{bi}."
                for j in (1, 2, 3):
                    out[f"{p}conv{j}"], out[f"{p}bn{j}"] = getattr(blk, f"conv{j}"), getattr(blk, f"bn{j}")
                if blk.downsample is not None:
                    out[p + "downsample.0"], out[p + "downsample.1"] = blk.downsample["conv"], blk.downsample["bn"]
        for name in ("q_proj", "k_proj", "v_proj", "c_proj"):
            out["visual.attnpool." + name] = getattr(self.attnpool, name)
        return out

    def named_like_c(self):
        """Every trained parameter under the C student's names (open_clip's)."""
        out = {}
        for name, mod in self.named_modules_like_c().items():
            if isinstance(mod, StudentConv):
                out[name + ".weight"] = mod.linear.weight
            else:  # ScaledBias around a norm or a linear map
                out[name + ".weight"] = mod.inner.weight
                if mod.bias is not None:
                    out[name + ".bias"] = mod.bias
        if self.attnpool.positional_embedding is not None:
            out["visual.attnpool.positional_embedding"] = self.attnpool.positional_embedding
        return out

    def running_vars(self):
        return {name + ".running_var": mod.inner.running_var for name, mod in self.named_modules_like_c().items()
                if isinstance(mod, ScaledBias) and isinstance(mod.inner, BatchNormUncentered2d)}


def fold_normalisation(w):
    """Six-channel weights V with V . [u, 1 - u] = W . ((u - mean) / std)."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return torch.cat([w * (1 - mean) / std, -w * mean / std], dim=1)


def random_teacher(gen):
    """open_clip's ModifiedResNet with every parameter and BatchNorm statistic drawn in float32 (no 0 or 1)."""
    teacher = ModifiedResNet(**CONFIG)
    with torch.no_grad():
        for name, t in list(teacher.named_parameters()) + list(teacher.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue

            def uniform(lo, hi):
                return lo + (hi - lo) * torch.rand(t.shape, generator=gen, dtype=torch.float32)

            if name.endswith("running_var"):
                t.copy_(uniform(0.5, 1.5))
            elif name.endswith(("running_mean", "bias")):
                t.copy_(uniform(-0.3, 0.3))
            elif t.dim() == 1:  # BatchNorm weights
                t.copy_(uniform(0.6, 1.4))
            elif name.endswith("positional_embedding"):
                t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * 0.3)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * (2.0 / fan_in) ** 0.5)
    return teacher.double().eval()


def rel_error(a, b):
    """Relative error (docs/METHOD.md, Notation): max|a - b| / max|b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def normalised(x6):
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x6[:, :3] - mean) / std


def check_conversion(teacher, x6):
    """B = 1, biases kept at scale 1, positional embedding kept: the evaluation-mode student is the teacher."""
    student = RnStudent(teacher, keep_biases=True, keep_pos=True, bcos_c_proj=False).eval()
    student.set_exponent_and_bias_scale(1.0, 1.0)
    with torch.no_grad():
        want = teacher(normalised(x6))
        err = rel_error(student(x6), want)
    print(f"B=1 student with biases and positional embedding vs open_clip ModifiedResNet: rel err {err:.2e}")
    assert err < 1e-10, err
    return want


def training_case(student, x6, R, want_dx6):
    """Training mode: out, the gradients of sum(out * R) and the running variances after the step."""
    params = student.named_like_c()
    x = x6.clone().requires_grad_(True)
    out = student.train()(x)
    grads = torch.autograd.grad((out * R.double()).sum(), [x] + list(params.values()))
    tensors = {"out": out.detach()}
    if want_dx6:
        tensors["dx6"] = grads[0]
    tensors.update({f"grad.{name}": g for name, g in zip(params, grads[1:])})
    tensors.update({f"running_var.{name}": v.clone() for name, v in student.running_vars().items()})
    return tensors


def torch_float32_error(teacher, case, x6, R):
    """How far torch's own float32 run of the same training step lands from float64: [embeddings, worst
    gradient] relative errors, the scale of rounding the C student (float32) is held to. Gradients that
    vanish in exact arithmetic (k_proj's bias: softmax ignores a shift shared by every key) are left out."""
    b, keep_biases, bias_scale, bcos_c_proj, _ = CASES[case]
    found = []
    for dtype in (torch.float64, torch.float32):
        student = RnStudent(teacher, keep_biases, False, bcos_c_proj).to(dtype)
        student.set_exponent_and_bias_scale(b, bias_scale)
        params = student.named_like_c()
        out = student.train()(x6.to(dtype))
        grads = torch.autograd.grad((out * R.to(dtype)).sum(), list(params.values()))
        found.append((out.detach().double(), [g.double() for g in grads]))
    (o64, g64), (o32, g32) = found
    worst = max(rel_error(a, b) for a, b in zip(g32, g64) if b.abs().max() > 1e-12)
    return torch.tensor([rel_error(o32, o64), worst])


def float32_floor(teacher, case, x6, R):
    """[embeddings, worst gradient] relative error against float64 of a float64 training step whose every module
    output is rounded to float32 (everything else, the backward included, in float64): the error that storing
    activations in float32 alone causes."""
    b, keep_biases, bias_scale, bcos_c_proj, _ = CASES[case]
    found = []
    for rounded in (False, True):
        student = RnStudent(teacher, keep_biases, False, bcos_c_proj)
        student.set_exponent_and_bias_scale(b, bias_scale)
        hooks = [m.register_forward_hook(lambda _m, _i, out: out.float().double())
                 for m in student.modules() if rounded and m is not student]
        params = student.named_like_c()
        out = student.train()(x6)
        grads = torch.autograd.grad((out * R.double()).sum(), list(params.values()))
        found.append((out.detach(), grads))
        for hook in hooks:  # the average pools are the teacher's own modules, shared by every student
            hook.remove()
    (o64, g64), (o32, g32) = found
    worst = max(rel_error(a, b) for a, b in zip(g32, g64) if b.abs().max() > 1e-12)
    return torch.tensor([rel_error(o32, o64), worst])


def explain_case(student, x6, D):
    """Evaluation mode with every dynamic factor detached: d(score)/dx6 and the constants' share per image."""
    student.eval()
    params = student.named_like_c()
    consts = [p for n, p in params.items() if n.endswith(("bias", "positional_embedding"))]
    x = x6.clone().requires_grad_(True)
    with torch.no_grad():
        plain = student(x6)
    with student.explanation_mode():
        out = student(x)
    assert rel_error(out, plain) < 1e-12, "explanation mode changes only the backward"
    scores = (out * D.double()).sum(dim=1)
    dx6, const = torch.zeros_like(x), torch.zeros(IMAGES, dtype=torch.float64)
    for i in range(IMAGES):
        grads = torch.autograd.grad(scores[i], [x] + consts, retain_graph=True, allow_unused=True)
        dx6[i] = grads[0][i]  # the q/k biases are unused: the attention weights are constants
        const[i] = sum((p * g).sum() for p, g in zip(consts, grads[1:]) if g is not None) if consts else 0.0
    terms = (x.detach() * dx6).flatten(1)
    completeness = ((terms.sum(1) + const - scores.detach()).abs() / (terms.abs().sum(1) + const.abs())).max()
    print(f"  explanation: completeness {completeness.item():.2e}, const share {const.tolist()}")
    assert completeness < 1e-12, completeness
    return {"eval.out": out.detach(), "explain.D": D, "explain.dx6": dx6, "explain.const": const}


def main():
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(SEED)
    teacher = random_teacher(gen)
    u = torch.rand(IMAGES, 3, CONFIG["image_size"], CONFIG["image_size"], generator=gen, dtype=torch.float32)
    x6 = torch.cat([u, 1 - u], dim=1).double()
    tensors = {"x6": x6, "convert.out": check_conversion(teacher, x6)}
    for name, t in teacher.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            tensors[f"teacher.visual.{name}"] = t
    for case, (b, keep_biases, bias_scale, bcos_c_proj, want_dx6) in CASES.items():
        print(f"case {case}: B={b} keep_biases={keep_biases} bias_scale={bias_scale} bcos_c_proj={bcos_c_proj}")
        found = {"config": torch.tensor([b, float(keep_biases), bias_scale, float(bcos_c_proj)])}
        found["R"] = torch.randn(IMAGES, CONFIG["output_dim"], generator=gen, dtype=torch.float32)
        found["explain.D"] = torch.randn(IMAGES, CONFIG["output_dim"], generator=gen, dtype=torch.float32)
        student = RnStudent(teacher, keep_biases, keep_pos=False, bcos_c_proj=bcos_c_proj)
        student.set_exponent_and_bias_scale(b, bias_scale)
        explained = explain_case(student, x6, found["explain.D"])  # before the training step moves running_var
        found.update(training_case(student, x6, found["R"], want_dx6))
        found.update(explained)
        found["torch_f32_error"] = torch_float32_error(teacher, case, x6, found["R"])
        found["f32_floor"] = float32_floor(teacher, case, x6, found["R"])
        for key, what in (("torch_f32_error", "torch float32"), ("f32_floor", "float32 activations alone")):
            print(f"  {what} vs float64: embeddings {found[key][0]:.2e}, worst gradient {found[key][1]:.2e}")
        tensors.update({f"{case}.{k}": v for k, v in found.items()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    versions = {p: version(p) for p in ("torch", "open_clip_torch", "bcos", "safetensors")}
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, OUT,
              metadata={"generator": "tools/ref/make_rn_student_fixtures.py", "versions": json.dumps(versions),
                        "config": json.dumps(CONFIG)})
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size} bytes), versions {versions}")


if __name__ == "__main__":
    main()
