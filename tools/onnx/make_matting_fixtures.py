#!/usr/bin/python3
"""Writes the background-matting fixtures into tests/data/onnx/:

  resize.safetensors   pictures resized by Pillow's Image.resize(LANCZOS),
                       byte for byte what the C resampler must give;
  matting.safetensors  a picture and the masks rembg's session code gives
                       for it with the fixture networks of make_fixtures.py
                       (re-implemented here: Pillow + numpy, the network run
                       by PyTorch instead of onnxruntime).

    /usr/bin/python3 tools/onnx/make_matting_fixtures.py [OUTDIR]

Needs Debian's python3-pil, python3-numpy and python3-torch.
"""

import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402


def source_picture(w, h, channels, seed):
    """Noise over a smooth gradient with hard black/white bars, so the
    filter's negative lobes overshoot and the clipping to 0..255 matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 60 * np.sin(x / 5.0)[..., None] * np.cos(y / 7.0)[..., None]
    base = np.repeat(base, channels, axis=2) + rng.normal(0, 40, (h, w, channels))
    base[:, (w // 3):(w // 3 + 2)] = 255
    base[(h // 2):(h // 2 + 3), :] = 0
    base[:4, :4] = 255
    return np.clip(base, 0, 255).astype(np.uint8)


# (source name, source size, target size) for each resize case: shrinking by
# integer and odd ratios, enlarging, one axis only, to a single pixel.
RESIZES = [
    ("rgb", (123, 91), (72, 72)),
    ("rgb", (123, 91), (31, 17)),
    ("rgb", (123, 91), (170, 130)),
    ("rgb", (123, 91), (123, 40)),
    ("rgb", (123, 91), (50, 91)),
    ("rgb", (123, 91), (1, 1)),
    ("rgb", (123, 91), (61, 45)),
    ("grey", (72, 72), (203, 151)),
    ("grey", (72, 72), (600, 7)),
    ("grey", (5, 3), (64, 48)),
    ("grey", (72, 72), (71, 73)),
]


def make_resize(outdir):
    srcs = {"rgb": source_picture(123, 91, 3, 5),
            "grey": source_picture(72, 72, 1, 6)[:, :, 0],
            "grey5x3": source_picture(5, 3, 1, 7)[:, :, 0]}
    tensors = [(f"src_{k}", v) for k, v in srcs.items()]
    for name, (sw, sh), (dw, dh) in RESIZES:
        key = "grey5x3" if (sw, sh) == (5, 3) else name
        img = Image.fromarray(srcs[key], mode="RGB" if name == "rgb" else "L")
        assert img.size == (sw, sh)
        out = np.array(img.resize((dw, dh), Image.Resampling.LANCZOS))
        tensors.append((f"{key}_{dw}x{dh}", out))
    mf.write_safetensors(os.path.join(outdir, "resize.safetensors"), tensors)


def rembg_mask(img, model, size, mean, std, sigmoid):
    """rembg's BaseSession.normalize and a session's predict, with the ONNX
    session replaced by the same network in PyTorch."""
    im = img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    im_ary = np.array(im)
    im_ary = im_ary / max(np.max(im_ary), 1e-6)
    tmp = np.zeros((im_ary.shape[0], im_ary.shape[1], 3))
    for c in range(3):
        tmp[:, :, c] = (im_ary[:, :, c] - mean[c]) / std[c]
    x = np.expand_dims(tmp.transpose((2, 0, 1)), 0).astype(np.float32)
    with torch.no_grad():
        out = model(torch.from_numpy(x))[0].numpy()
    pred = out[:, 0, :, :]
    if sigmoid:
        pred = 1 / (1 + np.exp(-pred))
    ma, mi = np.max(pred), np.min(pred)
    pred = np.squeeze((pred - mi) / (ma - mi))
    mask = Image.fromarray((pred.clip(0, 1) * 255).astype("uint8"), mode="L")
    return np.array(mask.resize(img.size, Image.Resampling.LANCZOS))


def make_matting(outdir):
    # An RGBA picture (the alpha must be ignored): the fixture's smooth
    # scene at a size that is not the network's, with noise.
    rng = np.random.default_rng(11)
    scene = Image.fromarray(mf.test_image(160)).resize((150, 110), Image.Resampling.BICUBIC)
    rgb = np.clip(np.array(scene).astype(np.int32) + rng.integers(-12, 13, (110, 150, 3)),
                  0, 255).astype(np.uint8)
    alpha = rng.integers(0, 256, (110, 150, 1), dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=2)
    img = Image.fromarray(rgba, mode="RGBA")
    tensors = [("picture", rgba)]
    u2net, _ = mf.build_net("u2net-tiny")
    isnet, _ = mf.build_net("isnet-tiny")
    # u2net-tiny-op17.onnx under its own name: a foreign file, read like
    # u2net at the graph's size; under isnet-general-use.onnx: IS-Net's
    # normalisation; the U^2-Net graph under birefnet-general.onnx: the
    # extra sigmoid of rembg's BiRefNet sessions.
    tensors.append(("mask_u2net", rembg_mask(img, u2net, 72, mf.U2NET_MEAN, mf.U2NET_STD, False)))
    tensors.append(("mask_isnet", rembg_mask(img, isnet, 96, mf.ISNET_MEAN, mf.ISNET_STD, False)))
    tensors.append(("mask_birefnet",
                    rembg_mask(img, u2net, 72, mf.U2NET_MEAN, mf.U2NET_STD, True)))
    mf.write_safetensors(os.path.join(outdir, "matting.safetensors"), tensors)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "onnx")
    torch.set_num_threads(1)
    make_resize(outdir)
    make_matting(outdir)


if __name__ == "__main__":
    main()
