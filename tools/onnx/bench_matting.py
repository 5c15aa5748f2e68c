#!/usr/bin/python3
"""The matting benchmark's PyTorch side (bench/README.md, `make bench`):
writes U^2-Net at its real layer sizes (320x320 input) and IS-Net at its
real sizes (1024x1024) with random weights as .onnx files into OUTDIR, and
a test picture, then times rembg's whole path for that picture in Python
with the network in PyTorch: prepare (Pillow LANCZOS resize, normalise),
network, mask (min-max, Pillow resize back). Best of REPEATS runs each.

    /usr/bin/python3 tools/onnx/bench_matting.py OUTDIR [THREADS] [REPEATS]

Prints one line per model and stage: "torch MODEL STAGE SECONDS"
(network-cpu: the process's CPU time in its least costly network run, the
fairer figure at one thread on a shared machine). The
files (about 176 MB each) are made once and kept while their size and
the script are unchanged.
"""

import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lnnets  # noqa: E402
import make_fixtures as mf  # noqa: E402

MODELS = {
    "u2net": (lnnets.U2Net, 320, mf.U2NET_MEAN, mf.U2NET_STD),
    "isnet": (lnnets.ISNet, 1024, mf.ISNET_MEAN, mf.ISNET_STD),
}
PICTURE = (1200, 900)  # a photo's size, neither network's


def picture():
    img = Image.fromarray(mf.test_image(1024)).resize(PICTURE, Image.Resampling.BICUBIC)
    return img


def build(name):
    cls, size, mean, std = MODELS[name]
    torch.manual_seed(7)
    model = cls()
    x = torch.from_numpy(mf.rembg_normalize(mf.test_image(size), mean, std))
    lnnets.randomize(model, 7, x)
    return model


def best(fn, repeats):
    """The least wall time and the least CPU time of the process (all
    threads) over repeats runs, and the last result."""
    t = c = float("inf")
    out = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        t = min(t, time.perf_counter() - t0)
        c = min(c, time.process_time() - c0)
    return t, out, c


def main():
    outdir = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(threads)
    img = picture()
    raw = os.path.join(outdir, "picture.rgb")
    if not os.path.exists(raw):
        with open(raw, "wb") as f:
            f.write(np.array(img.convert("RGB")).tobytes())
    print(f"picture {PICTURE[0]} {PICTURE[1]} {raw}")
    stamp = str(os.path.getmtime(__file__)) + str(os.path.getmtime(lnnets.__file__))
    for name, (_, size, mean, std) in MODELS.items():
        model = build(name)
        path = os.path.join(outdir, f"{name}-full.onnx")
        fresh = os.path.exists(path) and os.path.exists(path + ".stamp")
        if fresh:
            with open(path + ".stamp") as f:
                fresh = f.read() == stamp
        if not fresh:
            # Exported as rembg's files are: torch's default eval mode, so
            # BatchNormalization is folded into the convolutions; opset 11.
            torch.onnx.export(model, (torch.zeros(1, 3, size, size),), path, opset_version=11,
                              input_names=["input"], do_constant_folding=True)
            with open(path + ".stamp", "w") as f:
                f.write(stamp)
        print(f"model {name} {size} {path}")

        def prepare():
            im = img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
            a = np.array(im)
            a = a / max(np.max(a), 1e-6)
            t = np.zeros((a.shape[0], a.shape[1], 3))
            for c in range(3):
                t[:, :, c] = (a[:, :, c] - mean[c]) / std[c]
            return torch.from_numpy(np.expand_dims(t.transpose((2, 0, 1)), 0).astype(np.float32))

        def network(x):
            with torch.no_grad():
                return model(x)[0].numpy()

        def mask(out):
            pred = out[:, 0, :, :]
            ma, mi = np.max(pred), np.min(pred)
            pred = np.squeeze((pred - mi) / (ma - mi))
            m = Image.fromarray((pred.clip(0, 1) * 255).astype("uint8"), mode="L")
            return m.resize(img.size, Image.Resampling.LANCZOS)

        t_prep, x, _ = best(prepare, repeats)
        network(x)  # warm-up: PyTorch's first run allocates and picks kernels
        t_net, out, t_cpu = best(lambda: network(x), repeats)
        t_mask, _, _ = best(lambda: mask(out), repeats)
        for stage, t in (("prepare", t_prep), ("network", t_net), ("network-cpu", t_cpu),
                         ("mask", t_mask), ("total", t_prep + t_net + t_mask)):
            print(f"torch {name} {stage} {t:.3f}", flush=True)


if __name__ == "__main__":
    main()
