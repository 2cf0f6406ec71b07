"""Peer for bench_preprocess: the same tasks in Python with PIL, torchvision, open_clip and webdataset,
as a PyTorch user would write them. Usage: peer_preprocess.py TASK URLS PASSES THREADS.

  decode       PIL's Image.open(f).convert("RGB") of every image, held in memory
  eval         open_clip's image_transform(224, is_train=False) of Image.open(f) (Resize, CenterCrop,
               RGB, ToTensor, Normalize); eval-fast runs the same (PIL has no fast mode here)
  train        RandomResizedCrop(224, BICUBIC) + RandomHorizontalFlip + ToTensor on the RGB image, then
               the B-cos input cat(u, 1 - u) and the normalised tensor
  loader       webdataset.WebDataset(URLS).decode("pil") with open_clip's preprocess, batched by a torch
               DataLoader with THREADS worker processes (none for 1: all in this process), batch 25;
               loader-fast runs the same
  digest       one line per image: the CRC-32 of torchvision's 224 Resize + CenterCrop of its RGB image

In-memory tasks fork THREADS processes that each take every THREADS-th image, start each pass together
and finish it before the next; one untimed pass, then the median of PASSES passes.
"""
import io
import multiprocessing as mp
import os
import statistics
import sys
import tarfile
import time
import zlib

import braceexpand
import numpy as np
import open_clip
import PIL
import torch
from PIL import Image
from torchvision import transforms as T

SIZE = 224
BATCH = int(os.environ.get("BCOS_BENCH_BATCH", "25"))  # as bench_preprocess reads it
MEAN, STD = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD


def read_images(urls):
    """(shard, index, bytes) of every sample's jpg or png member, in shard order."""
    images = []
    for url in braceexpand.braceexpand(urls):
        samples = {}
        with tarfile.open(url) as tar:
            for member in tar:
                key, _, ext = os.path.basename(member.name).partition(".")
                key = os.path.join(os.path.dirname(member.name), key)
                if key not in samples:
                    samples[key] = None
                if ext.lower() in ("jpg", "png") and member.isfile():
                    samples[key] = tar.extractfile(member).read()
        images += [(url, i, data) for i, data in enumerate(samples.values()) if data is not None]
    return images


def task_function(task):
    if task == "decode":
        return lambda data: Image.open(io.BytesIO(data)).convert("RGB")
    if task.startswith("eval"):
        preprocess = open_clip.image_transform(SIZE, is_train=False)
        return lambda data: preprocess(Image.open(io.BytesIO(data)))
    if task == "train":
        crop = T.Compose([T.RandomResizedCrop(SIZE, interpolation=T.InterpolationMode.BICUBIC),
                          T.RandomHorizontalFlip(), T.ToTensor()])
        normalize = T.Normalize(MEAN, STD)

        def train(data):
            u = crop(Image.open(io.BytesIO(data)).convert("RGB"))
            return torch.cat([u, 1 - u]), normalize(u)
        return train
    raise SystemExit(f"unknown task {task}")


def worker(images, work, rank, threads, passes, start, end):
    torch.set_num_threads(1)
    mine = [data for _, _, data in images[rank::threads]]
    for _ in range(passes + 1):
        start.wait()
        for data in mine:
            work(data)
        end.wait()


def time_in_memory(task, images, passes, threads):
    work = task_function(task)
    # a worker that fails breaks the barriers (timeout) instead of leaving this process waiting
    start, end = mp.Barrier(threads + 1, timeout=600), mp.Barrier(threads + 1, timeout=600)
    procs = [mp.Process(target=worker, args=(images, work, r, threads, passes, start, end)) for r in range(threads)]
    for p in procs:
        p.start()
    times = []
    for _ in range(passes + 1):
        t0 = time.perf_counter()
        start.wait()
        end.wait()
        times.append(time.perf_counter() - t0)
    for p in procs:
        p.join()
    return times[1:], len(images)


def time_loader(urls, passes, threads):
    import webdataset as wds
    preprocess = open_clip.image_transform(SIZE, is_train=False)
    dataset = (wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("pil")
               .to_tuple("jpg;png", "cls").map_tuple(preprocess, int))
    workers = threads if threads > 1 else 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, num_workers=workers,
                                         persistent_workers=workers > 0)
    torch.set_num_threads(1)
    times, count = [], 0
    for _ in range(passes + 1):
        t0 = time.perf_counter()
        count = sum(len(labels) for _, labels in loader)
        times.append(time.perf_counter() - t0)
    return times[1:], count


def print_digests(images):
    transform = open_clip.image_transform(SIZE, is_train=False).transforms[:2]  # Resize(224), CenterCrop(224)
    for _, index, data in images:
        im = Image.open(io.BytesIO(data)).convert("RGB")
        for t in transform:
            im = t(im)
        print(f"{index} {zlib.crc32(np.asarray(im).tobytes()) & 0xFFFFFFFF:08x}")


def main():
    task, urls, passes, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if task == "digest":
        print_digests(read_images(urls))
        return
    if task.startswith("loader"):
        times, count = time_loader(urls, passes, threads)
    else:
        times, count = time_in_memory(task, read_images(urls), passes, threads)
    median = statistics.median(times)
    print(f"peer {task}: {count} images, median of {passes} passes {median:.3f} s, {count / median:.1f} img/s "
          f"({count / median / threads:.1f} per core, {threads} processes; Pillow {PIL.__version__}, "
          f"torch {torch.__version__})")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
