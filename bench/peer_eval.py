"""Peer for bench/eval.sh: CLIP_benchmark's own CLI (clip_benchmark.cli.main, what `clip_benchmark eval` runs)
in this process, timed from start to end, so that it can first register our model configs (bcos-tiny) with
open_clip by name; CLIP_benchmark then loads the weights file as open_clip's `pretrained` checkpoint.
fp32 (--no_amp), its accuracy() made NumPy-2-safe as in tools/ref/make_eval_fixtures.py,, the shards read in this process (--num_workers 0), torch on THREADS threads.
Usage: peer_eval.py run MODEL WEIGHTS DATASET_DIR BATCH THREADS OUT_DIR   (prints img/s and acc1)
       peer_eval.py init MODEL OUT.safetensors                           (random weights, seed 0, open_clip names)"""
import json
import sys
import tarfile
import time
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "ref"))


def register(model):
    """Our configs that open_clip lacks (bcos-tiny) become known to it by name."""
    if model not in open_clip.list_models():
        open_clip.add_model_config(REPO / "src" / "model" / "configs" / f"{model}.json")


def init(model, out):
    register(model)
    torch.manual_seed(0)
    state = open_clip.create_model(model, pretrained=None).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, out, metadata={"format": "pt"})


def count_samples(dataset_dir):
    split = Path(dataset_dir) / "test"
    shards = int((split / "nshards.txt").read_text())
    count = 0
    for i in range(shards):
        with tarfile.open(split / f"{i}.tar") as tar:
            count += sum(1 for m in tar if m.name.endswith(".cls"))
    return count


def run(model, weights, dataset_dir, batch, threads, out_dir):
    from clip_benchmark import cli
    from clip_benchmark.metrics import zeroshot_classification
    from make_eval_fixtures import accuracy
    # CLIP_benchmark 1.6.2's accuracy() ends in float() of a one-element array, which NumPy 2 refuses; the
    # fixtures' copy of it takes .item() instead (the metric only, after the timed work).
    zeroshot_classification.accuracy = accuracy
    register(model)
    torch.set_num_threads(int(threads))
    output = str(Path(out_dir) / "peer.json")
    sys.argv = ["clip_benchmark", "eval", "--model", model, "--pretrained", weights, "--dataset",
                f"wds/{Path(dataset_dir).name}", "--dataset_root", dataset_dir, "--task", "zeroshot_classification",
                "--no_amp", "--num_workers", "0", "--batch_size", batch, "--output", output, "--quiet"]
    t0 = time.perf_counter()
    cli.main()
    seconds = time.perf_counter() - t0
    images = count_samples(dataset_dir)
    acc1 = json.loads(Path(output).read_text())["metrics"]["acc1"]
    print(f"clip_benchmark eval {model}: {images} images in {seconds:.1f} s, {images / seconds:.2f} img/s, "
          f"acc1 {acc1:.4f} (torch {torch.__version__}, open_clip {open_clip.__version__}, {threads} threads)")


if __name__ == "__main__":
    {"run": run, "init": init}[sys.argv[1]](*sys.argv[2:])
