"""Writes tests/fixtures/gridpg/: the grid pointing game's geometry and score computed with torch's own
operations, as the B-cos papers' localisation analysis does them: the grid cut into windows by
F.unfold (kernel S, stride S // 2, padding S - S // 2), each window's attribution map summed back
onto the grid by F.fold, the map smoothed by F.avg_pool2d (kernel K, stride 1, padding (K - 1) // 2,
zero padding counted), negatives clamped to 0, each cell's sum by F.avg_pool2d(S, stride S), and the
target's cell share (0 where nothing is positive). Images are placed as the reference places them:
image i of a grid at row block i % n, column block i // n.

The model is replaced by a stand-in explainer whose attribution depends on the whole window, so that
a window cut or placed wrongly changes the result: for target k, attribution = (window channel
k mod 6 - 0.5) * mean(window) * (k + 1). tests/golden/test_gridpg_torch.c computes the same with
bcos/gridpg.h. Re-run from the repository root (deterministic, CPU, a second):

    .venv-ref/bin/python tools/ref/make_gridpg_fixtures.py
"""

import json
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gridpg"

# name: (cells a side n, cell side S, smoothing window K or 0)
CASES = {"n2_s8": (2, 8, 0), "n3_s6_smooth3": (3, 6, 3), "n2_s7_smooth5": (2, 7, 5)}


def stand_in(window, k):
    """window [6, S, S] -> attribution [S, S] for target k."""
    return (window[k % 6] - 0.5) * window.mean() * (k + 1)


def case(g, n, S, smooth):
    G = n * S
    u = torch.rand(3, G, G, generator=g)
    grid = torch.cat([u, 1 - u])[None]  # [1, 6, G, G]
    stride = S // 2
    padding = S - stride
    patches = F.unfold(grid, S, stride=stride, padding=padding).view(1, 6, S, S, -1)
    maps, scores = [], []
    for k in range(n * n):
        atts = torch.stack([stand_in(patches[0, ..., p], k) for p in range(patches.shape[-1])], dim=-1)
        folded = F.fold(atts.view(1, S * S, -1), (G, G), S, stride=stride, padding=padding)  # [1, 1, G, G]
        maps.append(folded[0, 0])
        att = folded
        if smooth:
            att = F.avg_pool2d(att, smooth, stride=1, padding=(smooth - 1) // 2)
        att = att.clamp(min=0)
        cells = F.avg_pool2d(att, S, stride=S).permute(0, 1, 3, 2).reshape(-1)  # index: column * n + row
        total = cells.sum()
        share = torch.where(total * cells > 0, cells / total, torch.zeros_like(cells))
        scores.append(share[k])
    return {"grid": grid[0], "maps": torch.stack(maps), "scores": torch.stack(scores),
            "params": torch.tensor([n, S, smooth], dtype=torch.float32)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    tensors = {}
    for name, (n, S, smooth) in CASES.items():
        for key, t in case(g, n, S, smooth).items():
            tensors[f"{name}.{key}"] = t.contiguous().float()
    meta = {"cases": ",".join(CASES), "generator": "tools/ref/make_gridpg_fixtures.py",
            "versions": json.dumps({"torch": version("torch"), "safetensors": version("safetensors")})}
    save_file(tensors, str(OUT / "gridpg.safetensors"), metadata=meta)


if __name__ == "__main__":
    main()
