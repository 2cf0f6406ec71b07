"""Writes tests/fixtures/explain/: references for the explanation pictures (docs/METHOD.md, Explanation mode and completeness), computed
by the official B-cos package (`bcos` on PyPI): `bcos.common.gradient_to_image` for the colour explanation
(RGBA) and `bcos.common.plot_contribution_map` (matplotlib's "bwr" colormap, symmetric, clipped at a
percentile of |contribution|) for the contribution map, read back through the plotted image's colour
mapping. The composite (colour explanation over the image u) is the "over" blend in numpy.
Re-run from the repository root (deterministic, CPU, a second):

    .venv-ref/bin/python tools/ref/make_explain_fixtures.py
"""

import json
from importlib.metadata import version
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from bcos.common import gradient_to_image, plot_contribution_map  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "explain"


def blob(h, w, cy, cx, r):
    y = torch.arange(h, dtype=torch.float32)[:, None]
    x = torch.arange(w, dtype=torch.float32)[None, :]
    return torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))


def random_case(g, h, w):
    """Random image and weights whose strength varies over the image, so alpha has structure."""
    u = torch.rand(3, h, w, generator=g)
    strength = 0.2 + 3 * blob(h, w, h / 3, w / 2, min(h, w) / 4)
    wmap = torch.randn(6, h, w, generator=g) * strength
    return torch.cat([u, 1 - u]), wmap


def special_pixels_case(g, h, w):
    """A block where W is zero, and a block where u = 0 and W's (1-u) half is zero: there the
    contribution is exactly 0 with ||W|| > 0, which the package counts as positive (`contribs < 0`)."""
    x6, wmap = random_case(g, h, w)
    wmap[:, 2:6, 3:9] = 0
    x6[:3, 14:20, 25:33] = 0
    x6[3:, 14:20, 25:33] = 1
    wmap[3:, 14:20, 25:33] = 0
    return x6, wmap


def all_negative_case(g, h, w):
    """Every contribution negative: alpha is the package's 1e-12 everywhere, so the picture shows the
    average pool's zero padding at the borders (its windows count the padding)."""
    u = torch.rand(3, h, w, generator=g)
    x6 = torch.cat([u, 1 - u])
    return x6, -x6 * (0.5 + torch.rand(6, h, w, generator=g))


def contribution_map_rgb(contribution, percentile):
    """The colours plot_contribution_map puts on screen: its AxesImage's own norm and colormap."""
    _, im = plot_contribution_map(contribution.numpy(), percentile=percentile)
    rgba = im.to_rgba(im.get_array())
    plt.close("all")
    return torch.from_numpy(np.ascontiguousarray(rgba[..., :3], dtype=np.float32))


def main():
    g = torch.Generator().manual_seed(20240531)
    cases = {
        "square": (random_case(g, 32, 32), 15, 99.5),
        "wide": (special_pixels_case(g, 24, 40), 15, 99.5),
        "negative": (all_negative_case(g, 16, 20), 15, 99.5),
        "small_window": (random_case(g, 20, 28), 5, 90.0),
    }
    tensors = {}
    for name, ((x6, wmap), smooth, percentile) in cases.items():
        rgba = torch.from_numpy(gradient_to_image(x6, wmap, smooth=smooth, alpha_percentile=percentile))
        contribution = (x6 * wmap).sum(0)
        u = x6[:3].permute(1, 2, 0)
        alpha = rgba[..., 3:]
        composite = rgba[..., :3] * alpha + (1 - alpha) * u
        tensors.update({
            f"{name}.x6": x6, f"{name}.w": wmap, f"{name}.rgba": rgba,
            f"{name}.contribution": contribution,
            f"{name}.contribution_rgb": contribution_map_rgb(contribution, percentile),
            f"{name}.composite": composite.contiguous(),
            f"{name}.params": torch.tensor([smooth, percentile], dtype=torch.float32),
        })
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / "explain.safetensors",
              metadata={"cases": ",".join(cases)})
    versions = {p: version(p) for p in ("bcos", "torch", "numpy", "matplotlib", "safetensors")}
    (OUT / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")


if __name__ == "__main__":
    main()
