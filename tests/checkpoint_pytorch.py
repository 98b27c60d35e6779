#!/usr/bin/env python3
"""Loads an nntrain checkpoint with the `safetensors` package and checks that the ecosystem
reads it as nntrain meant:

1. safetensors.numpy.load_file + a numpy forward pass over the Fashion-MNIST test set gives
   the test accuracy nntrain reported (the `done` line of its metrics file);
2. safetensors.torch.load_file + load_state_dict on the equivalent torch.nn.Sequential works
   (model tensors only: the optimizer state rides along under the `optimizer.` prefix) and its
   forward pass agrees with numpy;
3. the checksum in the metadata is the SHA-256 of the tensor bytes.

Usage: checkpoint_pytorch.py CHECKPOINT METRICS.jsonl [TEST_SUBSET] [DATA_DIR]
Supports MLP checkpoints (Linear layers with ReLU between them, dropout anywhere), the model nntrain
trains by default; the torch module is the one in the checkpoint's `pytorch` metadata when present.
Exit status 0 when every check passes.
"""
import gzip
import hashlib
import json
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def model_inputs(images, meta):
    """The network's inputs as nntrain's gather makes them: x = byte·scale[g] + shift[g] in float32
    per channel group g with the checkpoint's `normalization` statistics, else byte/255."""
    n = json.loads(meta["normalization"]) if meta.get("normalization") else None
    x = images.astype(np.float32)
    if not n or n["features"] == "none":
        return x * np.float32(1.0 / 255.0)
    g = n["groupSize"]
    scale = np.repeat(np.array(n["scale"], dtype=np.float32), g)
    shift = np.repeat(np.array(n["shift"], dtype=np.float32), g)
    return x * scale + shift


def main():
    ckpt, metrics = sys.argv[1], sys.argv[2]
    subset = int(sys.argv[3]) if len(sys.argv) > 3 else None
    data_dir = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
    failures = []

    done = [json.loads(l) for l in open(metrics) if '"event":"done"' in l][-1]
    reported = done["test_accuracy"]

    # 3. checksum of the tensor bytes
    raw = open(ckpt, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    with safe_open(ckpt, framework="numpy") as f:
        meta = f.metadata()
    if hashlib.sha256(raw[8 + n:]).hexdigest() != meta["tensors_sha256"]:
        failures.append("tensors_sha256 does not match the tensor bytes")

    # 1. numpy forward pass
    sd = load_numpy(ckpt)
    layers = sorted({int(k.split(".")[0]) for k in sd if not k.startswith("optimizer.")})
    x = read_idx(f"{data_dir}/t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    y = read_idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz")
    if subset:
        x, y = x[:subset], y[:subset]
    x = model_inputs(x, meta)
    h = x
    for i, k in enumerate(layers):
        h = h @ sd[f"{k}.weight"].T + sd[f"{k}.bias"]
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    acc = float((h.argmax(axis=1) == y).mean())
    print(f"numpy forward: accuracy {acc:.4f} on {len(y)} test samples; nntrain reported {reported:.4f}")
    if abs(acc - reported) > 0.5 / len(y):
        failures.append(f"numpy accuracy {acc} != nntrain's {reported}")

    # 2. torch: load_state_dict on the equivalent nn.Sequential
    try:
        import torch
        from safetensors.torch import load_file as load_torch
    except ImportError:
        print("torch not installed: skipping the load_state_dict check")
    else:
        tsd = load_torch(ckpt)
        if "pytorch" in meta:
            # The module nntrain wrote as Python source (nn.Dropout included: eval() makes it the identity).
            net = eval(meta["pytorch"], {"nn": torch.nn})
        else:
            modules = []
            for i, k in enumerate(layers):
                while len(modules) < k:
                    modules.append(torch.nn.ReLU())
                out_f, in_f = tsd[f"{k}.weight"].shape
                modules.append(torch.nn.Linear(in_f, out_f))
            net = torch.nn.Sequential(*modules)
        net.eval()
        model_sd = {k: v for k, v in tsd.items() if not k.startswith("optimizer.")}
        net.load_state_dict(model_sd)  # strict: names and shapes must match exactly
        missing, unexpected = net.load_state_dict(tsd, strict=False)
        if missing or any(not u.startswith("optimizer.") for u in unexpected):
            failures.append(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        with torch.no_grad():
            logits = net(torch.from_numpy(x))
        tacc = float((logits.argmax(dim=1).numpy() == y).mean())
        print(f"torch {net}: accuracy {tacc:.4f}")
        if abs(tacc - reported) > 0.5 / len(y):
            failures.append(f"torch accuracy {tacc} != nntrain's {reported}")

    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
