#!/usr/bin/python3
"""Writes the ONNX runtime's test fixtures into tests/data/onnx/: small
U^2-Net and IS-Net shaped networks with random weights (fixed seeds),
exported by torch.onnx.export at opset 11 and 17, a tiny network whose
weights are stored as float16, a small BiRefNet shaped network (Swin
window attention encoder, deformable sampling decoder) at opset 13 and 17, and for each a .safetensors file holding the
test input and every graph output as PyTorch computes them in float32.

    /usr/bin/python3 tools/onnx/make_fixtures.py [OUTDIR]

Needs Debian's python3-torch and python3-onnx. The output is deterministic
for a given torch build (same seeds, same kernels).
"""

import json
import os
import struct
import sys

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lnnets  # noqa: E402

U2NET_MEAN, U2NET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ISNET_MEAN, ISNET_STD = (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)


def write_safetensors(path, tensors):
    """The safetensors layout: an 8-byte little-endian header length, a JSON
    header {name: {dtype, shape, data_offsets}} padded with spaces to a
    multiple of 8, then the raw little-endian data (F32, or U8 for uint8 arrays)."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors:
        dtype = "U8" if arr.dtype == np.uint8 else "F32"
        arr = np.ascontiguousarray(arr, dtype="u1" if dtype == "U8" else "<f4")
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def test_image(size):
    """A deterministic smooth RGB picture (uint8, HxWx3): a bright disc on
    a graded background with a soft stripe, so the network sees structure."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    disc = np.clip(1.0 - np.hypot(x - 0.55, y - 0.45) / 0.3, 0.0, 1.0)
    r = 40 + 200 * disc + 15 * np.sin(9 * x)
    g = 30 + 120 * y + 80 * disc * (1 - x)
    b = 60 + 90 * x + 50 * np.cos(7 * (x + y))
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def rembg_normalize(img, mean, std):
    """rembg's BaseSession.normalize after the resize: divide by the image's
    own maximum, per-channel (x - mean) / std in float64, NCHW float32."""
    a = img / max(np.max(img), 1e-6)
    t = np.zeros(a.shape)
    for c in range(3):
        t[:, :, c] = (a[:, :, c] - mean[c]) / std[c]
    return np.expand_dims(t.transpose((2, 0, 1)), 0).astype(np.float32)


def export(model, x, path, opset, out_names, preserve):
    kw = {}
    if preserve:
        # PRESERVE keeps the model's eval mode but skips the exporter's
        # eval-only peephole pass, so BatchNormalization stays its own node
        # instead of being folded into the preceding Conv.
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["input"],
                      output_names=out_names, do_constant_folding=True, **kw)
    onnx.checker.check_model(onnx.load(path))


# The fixture networks: class, input side, seed, rembg's mean and std for
# the family, output names, and whether BatchNormalization stays unfused in
# the opset 11 and 17 exports.
NETS = {
    "u2net-tiny": (lnnets.U2Net, 72, 2, U2NET_MEAN, U2NET_STD,
                   ["d0", "d1", "d2", "d3", "d4", "d5", "d6"], {11: True, 17: True}),
    "isnet-tiny": (lnnets.ISNet, 96, 3, ISNET_MEAN, ISNET_STD,
                   ["d1", "d2", "d3", "d4", "d5", "d6"], {11: False, 17: True}),
}


def build_net(name):
    """The fixture network `name` with its weights, in eval mode, and the
    normalised test input it was calibrated on."""
    cls, size, seed, mean, std, _, _ = NETS[name]
    torch.manual_seed(seed)
    model = cls(width=64)
    x = torch.from_numpy(rembg_normalize(test_image(size), mean, std))
    lnnets.randomize(model, seed, x)
    return model, x


def make_net(outdir, name):
    _, _, _, _, _, out_names, preserve_by_opset = NETS[name]
    model, x = build_net(name)
    with torch.no_grad():
        outs = model(x)
    for opset in (11, 17):
        export(model, x, os.path.join(outdir, f"{name}-op{opset}.onnx"), opset, out_names,
               preserve_by_opset[opset])
    write_safetensors(os.path.join(outdir, f"{name}.safetensors"),
                      [("input", x.numpy())] + [(n, o.numpy()) for n, o in zip(out_names, outs)])


def make_f16(outdir):
    """A tiny graph whose initializers are float16, as half-precision
    exports store them: each weight goes through Cast(to=FLOAT) before a
    float32 Conv or BatchNormalization. Built with onnx.helper (torch
    1.13 cannot run a float16 conv on the CPU to trace it); the reference
    is PyTorch float32 on the float16-rounded weights."""
    rng = np.random.default_rng(16)
    w1 = (rng.standard_normal((5, 3, 3, 3)) * 0.4).astype(np.float16)
    b1 = (rng.standard_normal(5) * 0.1).astype(np.float16)
    gamma = (1 + 0.3 * rng.standard_normal(5)).astype(np.float16)
    beta = (0.2 * rng.standard_normal(5)).astype(np.float16)
    rmean = (0.3 * rng.standard_normal(5)).astype(np.float16)
    rvar = np.exp(0.3 * rng.standard_normal(5)).astype(np.float16)
    w2 = (rng.standard_normal((1, 5, 1, 1)) * 0.5).astype(np.float16)
    b2 = np.array([0.25], dtype=np.float16)
    inits = {"w1": w1, "b1": b1, "gamma": gamma, "beta": beta, "rmean": rmean, "rvar": rvar,
             "w2": w2, "b2": b2}
    nodes = [oh.make_node("Cast", [k], [k + "_f32"], to=onnx.TensorProto.FLOAT, name="cast_" + k)
             for k in inits]
    nodes += [
        oh.make_node("Conv", ["input", "w1_f32", "b1_f32"], ["c1"], kernel_shape=[3, 3],
                     pads=[1, 1, 1, 1], name="conv1"),
        oh.make_node("BatchNormalization", ["c1", "gamma_f32", "beta_f32", "rmean_f32", "rvar_f32"],
                     ["n1"], epsilon=1e-5, name="bn1"),
        oh.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        oh.make_node("Conv", ["r1", "w2_f32", "b2_f32"], ["c2"], kernel_shape=[1, 1], name="conv2"),
        oh.make_node("Sigmoid", ["c2"], ["output"], name="sigmoid"),
    ]
    graph = oh.make_graph(
        nodes, "f16_weights",
        [oh.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 16, 16])],
        [oh.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 1, 16, 16])],
        [onh.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)],
                          producer_name="lunar-nova make_fixtures.py")
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, "f16-weights.onnx"))

    x = torch.from_numpy(rembg_normalize(test_image(16), U2NET_MEAN, U2NET_STD))
    t = {k: torch.from_numpy(v.astype(np.float32)) for k, v in inits.items()}
    with torch.no_grad():
        h = F.conv2d(x, t["w1"], t["b1"], padding=1)
        h = F.batch_norm(h, t["rmean"], t["rvar"], t["gamma"], t["beta"], False, 0.0, 1e-5)
        y = torch.sigmoid(F.conv2d(F.relu(h), t["w2"], t["b2"]))
    write_safetensors(os.path.join(outdir, "f16-weights.safetensors"),
                      [("input", x.numpy()), ("output", y.numpy())])


def make_birefnet(outdir):
    """The BiRefNet-shaped fixture (lnnets.BiRefNetTiny): input 1x3x64x64
    normalised like rembg's BiRefNet sessions (ImageNet mean and std),
    exported at opset 17 (LayerNormalization one node) and opset 13
    (LayerNorm spelt ReduceMean, Sub, Pow, Sqrt, Div); GELU is Erf, Div,
    Mul and Add in both. One output, `output`, after the sigmoid."""
    torch.manual_seed(4)
    model = lnnets.BiRefNetTiny()
    x = torch.from_numpy(rembg_normalize(test_image(64), U2NET_MEAN, U2NET_STD))
    lnnets.randomize_birefnet(model, 4, x)
    with torch.no_grad():
        y = model(x)
    for opset in (13, 17):
        export(model, x, os.path.join(outdir, f"birefnet-tiny-op{opset}.onnx"), opset, ["output"],
               False)
    write_safetensors(os.path.join(outdir, "birefnet-tiny.safetensors"),
                      [("input", x.numpy()), ("output", y.numpy())])


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "onnx")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for name in NETS:
        make_net(outdir, name)
    make_f16(outdir)
    make_birefnet(outdir)


if __name__ == "__main__":
    main()
