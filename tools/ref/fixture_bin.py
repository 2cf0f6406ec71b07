"""The binary fixture format the golden tests read (tests/fixture_bin.h), shared by the generators.

A fixture directory holds index.json and one blob of little-endian float32 tensors back to back;
index.json maps each tensor name ("<case>.<key>") to {"shape": [...], "offset": byte offset into the
blob} under "tensors", and holds the shapes and scalars of each case under "params". Inputs are drawn
in float32 and every reference is computed in float64 from those exact values, then rounded to float32.

This module is imported by the tools/ref/make_*_fixtures.py scripts; it is not run on its own.
"""
import json
import os

import torch


class Fixture:
    """Collects float32 tensors into one blob and records where each one lies."""

    def __init__(self):
        self.tensors = {}
        self.params = {}
        self.blob = bytearray()

    def add(self, name, tensor):
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4")
        self.tensors[name] = {"shape": list(data.shape), "offset": len(self.blob)}
        self.blob += data.tobytes()

    def write(self, directory, blob_name):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, blob_name), "wb") as f:
            f.write(self.blob)
        with open(os.path.join(directory, "index.json"), "w") as f:
            json.dump({"params": self.params, "tensors": self.tensors}, f, indent=1, sort_keys=True)
            f.write("\n")


def float32_input(*shape, scale=1.0, shift=0.0):
    """A random input that float32 holds exactly, as a float64 leaf for autograd."""
    x = (torch.randn(*shape, dtype=torch.float32) * scale + shift).to(torch.float64)
    return x.requires_grad_(True)


def random_dout(shape):
    """Random loss weights dout, drawn in float32 and held in float64: L = sum(out * dout)."""
    return torch.randn(shape, dtype=torch.float32).to(torch.float64)


def backward(out, fx, prefix):
    """Backward of L = sum(out * dout) for a random dout, stored as <prefix>.dout."""
    dout = random_dout(out.shape)
    fx.add(prefix + ".dout", dout)
    (out * dout).sum().backward()
