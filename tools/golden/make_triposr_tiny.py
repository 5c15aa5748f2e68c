#!/usr/bin/python3
"""Regenerates the tiny TripoSR golden fixtures (tests/data/triposr-tiny).

An independent implementation of the TripoSR forward pass in plain PyTorch,
written from docs/TRIPOSR.md (section numbers below refer to it): it reads
the tiny model's config.yaml, vit_config.json and weights
(model.safetensors, or model.ckpt with --ckpt) and the fixture inputs, runs
every stage and writes the stage outputs as raw little-endian float32 files
(C order, no header) into OUT, under the fixtures' names. With --check it
then compares every regenerated file with the committed one and prints the
largest absolute and relative differences.

    /usr/bin/python3 tools/golden/make_triposr_tiny.py OUT [--data DIR] [--ckpt] [--check]

Requires Debian's python3-torch (1.13), python3-numpy, python3-yaml and
python3-pil:
    apt-get install python3-torch python3-numpy python3-yaml python3-pil

Inputs taken from the fixture folder as they are (they were drawn at
random when the set was made and are not regenerated): input.png,
resize_up_input.png, resize_down_input.png, probe_positions.bin and
posinterp_src.bin. The model files themselves are not rewritten.
"""

import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

torch.set_num_threads(2)

# ---------------------------------------------------------------- inputs


def load_safetensors(path):
    """safetensors (docs/TRIPOSR.md 14.2): u64 header length, JSON, data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit("%s: dtype %s, expected F32" % (name, info["dtype"]))
        b, e = info["data_offsets"]
        arr = np.frombuffer(blob, dtype="<f4", count=(e - b) // 4, offset=base + b)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def load_weights(data, use_ckpt):
    if use_ckpt:
        sd = torch.load(os.path.join(data, "model.ckpt"), map_location="cpu")
        return {k: v.float().contiguous() for k, v in sd.items()}
    return load_safetensors(os.path.join(data, "model.safetensors"))


def load_config(path):
    """config.yaml with OmegaConf-style ${a.b} references resolved (section 2)."""
    with open(path) as f:
        doc = yaml.safe_load(f)

    def lookup(dotted, depth=0):
        if depth > 16:
            raise SystemExit("config.yaml: reference cycle at " + dotted)
        node = doc
        for part in dotted.split("."):
            node = node[part]
        return resolve(node, depth + 1)

    def resolve(v, depth=0):
        if isinstance(v, str):
            m = re.fullmatch(r"\$\{([^}]+)\}", v.strip())
            if m:
                return lookup(m.group(1), depth)
        return v

    def walk(node):
        if isinstance(node, dict):
            return {k: walk(resolve(v)) for k, v in node.items()}
        return node

    return walk(doc)


def read_bin(path, shape):
    arr = np.fromfile(path, dtype="<f4")
    return torch.from_numpy(arr.reshape(shape).copy())


# ------------------------------------------------------- preprocessing (3)


def resize_foreground(rgba, ratio):
    """Section 3.2: crop to alpha > 0 (last row and column dropped), pad to
    a square, then pad to int(side / ratio)."""
    ys, xs = np.where(rgba[..., 3] > 0)
    y1, y2, x1, x2 = ys.min(), ys.max(), xs.min(), xs.max()
    fg = rgba[y1:y2, x1:x2]
    m = max(fg.shape[0], fg.shape[1])
    ph0, pw0 = (m - fg.shape[0]) // 2, (m - fg.shape[1]) // 2
    ph1, pw1 = m - fg.shape[0] - ph0, m - fg.shape[1] - pw0
    sq = np.pad(fg, ((ph0, ph1), (pw0, pw1), (0, 0)), mode="constant")
    s = int(sq.shape[0] / ratio)
    p0 = (s - m) // 2
    p1 = s - m - p0
    return np.pad(sq, ((p0, p1), (p0, p1), (0, 0)), mode="constant")


def composite_grey(rgba):
    """Section 3.3: float32 in this order, truncation to uint8."""
    x = rgba.astype(np.float32) / np.float32(255.0)
    a = x[:, :, 3:4]
    rgb = x[:, :, :3] * a + (np.float32(1.0) - a) * np.float32(0.5)
    return (rgb * np.float32(255.0)).astype(np.uint8)


def resize_antialias(rgb_u8, size):
    """Section 3.4: u8 / 255 as float32, antialiased bilinear resize; HWC."""
    x = torch.from_numpy(rgb_u8.astype(np.float32) / np.float32(255.0))
    x = x.permute(2, 0, 1)[None]
    y = F.interpolate(x, (size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[0].permute(1, 2, 0).contiguous()


# ---------------------------------------------------------------- ViT (5)


def interpolate_positions(table, g):
    """Section 5.1: the transformers-4.35 rule (scale factor (g + 0.1) / t)."""
    n = table.shape[1] - 1
    t = int(math.sqrt(n))
    if n == g * g:
        return table
    dim = table.shape[-1]
    cls = table[:, :1]
    grid = table[:, 1:].reshape(1, t, t, dim).permute(0, 3, 1, 2)
    sf = (g + 0.1) / t
    grid = F.interpolate(grid, scale_factor=(sf, sf), mode="bicubic", align_corners=False)
    assert grid.shape[-1] == g and grid.shape[-2] == g
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((cls, grid), dim=1)


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def attention(q, k, v, heads):
    """Multi-head attention on [T, D] inputs, heads as column blocks."""
    tq, d = q.shape
    dh = d // heads
    q = q.reshape(tq, heads, dh).permute(1, 0, 2)
    k = k.reshape(k.shape[0], heads, dh).permute(1, 0, 2)
    v = v.reshape(v.shape[0], heads, dh).permute(1, 0, 2)
    a = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(dh), dim=-1)
    return torch.bmm(a, v).permute(1, 0, 2).reshape(tq, d)


def vit(W, vcfg, img_hwc, out):
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)
    x = ((img_hwc - mean) / std).permute(2, 0, 1)[None].contiguous()  # 3.5
    out["vit_input.bin"] = x
    p = vcfg["patch_size"]
    pre = "image_tokenizer.model."
    emb = F.conv2d(x, W[pre + "embeddings.patch_embeddings.projection.weight"],
                   W[pre + "embeddings.patch_embeddings.projection.bias"], stride=p)
    g = emb.shape[-1]
    tokens = emb.flatten(2).transpose(1, 2)  # [1, g*g, D], row-major patches
    tokens = torch.cat((W[pre + "embeddings.cls_token"], tokens), dim=1)
    pos = interpolate_positions(W[pre + "embeddings.position_embeddings"], g)
    out["vit_pos_embed.bin"] = pos
    h = (tokens + pos)[0]
    out["vit_embeddings.bin"] = h[None]
    eps = vcfg["layer_norm_eps"]
    heads = vcfg["num_attention_heads"]
    for i in range(vcfg["num_hidden_layers"]):
        L = pre + "encoder.layer.%d." % i
        y = layer_norm(h, W[L + "layernorm_before.weight"], W[L + "layernorm_before.bias"], eps)
        q = F.linear(y, W[L + "attention.attention.query.weight"], W[L + "attention.attention.query.bias"])
        k = F.linear(y, W[L + "attention.attention.key.weight"], W[L + "attention.attention.key.bias"])
        v = F.linear(y, W[L + "attention.attention.value.weight"], W[L + "attention.attention.value.bias"])
        o = attention(q, k, v, heads)
        h = h + F.linear(o, W[L + "attention.output.dense.weight"], W[L + "attention.output.dense.bias"])
        y = layer_norm(h, W[L + "layernorm_after.weight"], W[L + "layernorm_after.bias"], eps)
        y = F.gelu(F.linear(y, W[L + "intermediate.dense.weight"], W[L + "intermediate.dense.bias"]))
        h = h + F.linear(y, W[L + "output.dense.weight"], W[L + "output.dense.bias"])
        out["vit_layer%d.bin" % i] = h[None]
    h = layer_norm(h, W[pre + "layernorm.weight"], W[pre + "layernorm.bias"], eps)
    out["vit_last_hidden_state.bin"] = h[None]
    return h


# ------------------------------------------------- tokens, backbone (6-8)


def backbone(W, cfg, ctx, out):
    emb = W["tokenizer.embeddings"]  # [3, C, P, P]
    C = emb.shape[1]
    T = emb.permute(1, 0, 2, 3).reshape(C, -1)  # token n = plane*P*P + row*P + col
    out["tokens_init.bin"] = T[None]
    bb = cfg["backbone"]
    heads = bb["num_attention_heads"]
    x = F.group_norm(T[None], 32, W["backbone.norm.weight"], W["backbone.norm.bias"], 1e-6)[0]
    out["backbone_groupnorm.bin"] = x[None]
    h = F.linear(x.t(), W["backbone.proj_in.weight"], W["backbone.proj_in.bias"])
    out["backbone_proj_in.bin"] = h[None]
    for b in range(bb["num_layers"]):
        B = "backbone.transformer_blocks.%d." % b
        y = layer_norm(h, W[B + "norm1.weight"], W[B + "norm1.bias"], 1e-5)
        o = attention(F.linear(y, W[B + "attn1.to_q.weight"]), F.linear(y, W[B + "attn1.to_k.weight"]),
                      F.linear(y, W[B + "attn1.to_v.weight"]), heads)
        h = h + F.linear(o, W[B + "attn1.to_out.0.weight"], W[B + "attn1.to_out.0.bias"])
        y = layer_norm(h, W[B + "norm2.weight"], W[B + "norm2.bias"], 1e-5)
        o = attention(F.linear(y, W[B + "attn2.to_q.weight"]), F.linear(ctx, W[B + "attn2.to_k.weight"]),
                      F.linear(ctx, W[B + "attn2.to_v.weight"]), heads)
        h = h + F.linear(o, W[B + "attn2.to_out.0.weight"], W[B + "attn2.to_out.0.bias"])
        y = layer_norm(h, W[B + "norm3.weight"], W[B + "norm3.bias"], 1e-5)
        z = F.linear(y, W[B + "ff.net.0.proj.weight"], W[B + "ff.net.0.proj.bias"])
        value, gate = z.chunk(2, dim=-1)
        h = h + F.linear(value * F.gelu(gate), W[B + "ff.net.2.weight"], W[B + "ff.net.2.bias"])
        out["backbone_block%d.bin" % b] = h[None]
    h = F.linear(h, W["backbone.proj_out.weight"], W["backbone.proj_out.bias"])
    out["backbone_proj_out.bin"] = h[None]
    y = h.t() + T  # outer residual: the input before GroupNorm
    out["backbone_out.bin"] = y[None]
    P = emb.shape[-1]
    planes = y.reshape(C, 3, P, P).permute(1, 0, 2, 3)  # [3, C, P, P]
    sc = F.conv_transpose2d(planes, W["post_processor.upsample.weight"],
                            W["post_processor.upsample.bias"], stride=2)
    out["scene_codes.bin"] = sc[None]
    return sc


# ----------------------------------------------------- query, decoder (9-10)


def query(W, cfg, sc, pts):
    """Sections 9-10: triplane features, decoder, density_act and colour."""
    r = cfg["renderer"]["radius"]
    q = (pts - (-r)) / (r - (-r)) * 2.0 + (-1.0)
    uv = torch.stack((q[:, [0, 1]], q[:, [0, 2]], q[:, [1, 2]]), dim=0)  # [3, N, 2]
    f = F.grid_sample(sc, uv[:, None], mode="bilinear", padding_mode="zeros", align_corners=False)
    feats = f[:, :, 0, :].permute(2, 0, 1).reshape(pts.shape[0], -1)  # [N, 3F] plane-major
    dec = cfg["decoder"]
    n_linear = dec["n_hidden_layers"] + 1
    h = feats
    for i in range(n_linear):
        h = F.linear(h, W["decoder.layers.%d.weight" % (2 * i)], W["decoder.layers.%d.bias" % (2 * i)])
        if i < n_linear - 1:
            h = F.silu(h)
    density_act = torch.exp(h[:, 0:1] + cfg["renderer"]["density_bias"])
    color = torch.sigmoid(h[:, 1:4])
    return feats, density_act, color


def grid_positions(R, r):
    """Section 11: linspace(0, 1, R) per axis, k fastest, scaled to [-r, r]."""
    lin = torch.linspace(0, 1, R)
    g = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), dim=-1).reshape(-1, 3)
    return (g - 0.0) / (1.0 - 0.0) * (r - (-r)) + (-r)


# -------------------------------------------------------------- render (12)


def render_rays(n_views, view, elevation_deg, distance, fovy_deg, H, Wd):
    az = torch.linspace(0, 360.0, n_views + 1)[:n_views] * math.pi / 180
    el = torch.full_like(az, elevation_deg) * math.pi / 180
    d = torch.full_like(az, distance)
    pos = torch.stack([d * torch.cos(el) * torch.cos(az), d * torch.cos(el) * torch.sin(az),
                       d * torch.sin(el)], dim=-1)
    up = torch.tensor([0, 0, 1], dtype=torch.float32)[None].repeat(n_views, 1)
    fovy = torch.full_like(az, fovy_deg) * math.pi / 180
    look = F.normalize(-pos, dim=-1)
    right = F.normalize(torch.cross(look, up, dim=-1), dim=-1)
    up = F.normalize(torch.cross(right, look, dim=-1), dim=-1)
    rot = torch.stack([right, up, -look], dim=-1)  # columns
    focal = 0.5 * H / torch.tan(0.5 * fovy)
    i, j = torch.meshgrid(torch.arange(Wd, dtype=torch.float32) + 0.5,
                          torch.arange(H, dtype=torch.float32) + 0.5, indexing="xy")
    dirs = torch.stack([(i - Wd / 2) / 1.0, -(j - H / 2) / 1.0, -torch.ones_like(i)], -1)
    dirs = F.normalize(dirs, dim=-1)
    dirs = dirs[None].repeat(n_views, 1, 1, 1)
    dirs[..., :2] = dirs[..., :2] / focal[:, None, None, None]
    rays_d = (dirs[:, :, :, None, :] * rot[:, None, None, :, :]).sum(-1)
    rays_d = F.normalize(rays_d, dim=-1)
    rays_o = pos[:, None, None, :].expand(rays_d.shape)
    return rays_o[view].contiguous(), rays_d[view].contiguous()


def render(W, cfg, sc, rays_o, rays_d):
    r = cfg["renderer"]["radius"]
    S = cfg["renderer"]["num_samples_per_ray"]
    shape = rays_o.shape[:-1]
    o = rays_o.reshape(-1, 3)
    d = rays_d.reshape(-1, 3)
    dv = torch.where(d.abs() < 1e-6, torch.full_like(d, 1e-6), d)
    box = (1.0 - 1.0e-3) * torch.tensor([[-r, r]] * 3, dtype=torch.float32)
    t0 = (box[:, 1] - o) / dv
    t1 = (box[:, 0] - o) / dv
    t_near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    t_far = torch.maximum(t0, t1).amin(dim=-1)
    valid = t_far - t_near > 0.01
    tn, tf = t_near[valid][:, None], t_far[valid][:, None]
    t = torch.linspace(0, 1, S + 1)
    mid = (t[:-1] + t[1:]) / 2.0
    z = tn * (1 - mid[None]) + tf * mid[None]
    xyz = o[valid][:, None, :] + z[..., None] * d[valid][:, None, :]
    _, dens, col = query(W, cfg, sc, xyz.reshape(-1, 3))
    dens = dens.reshape(xyz.shape[0], S)
    col = col.reshape(xyz.shape[0], S, 3)
    deltas = t[1:] - t[:-1]
    alpha = 1 - torch.exp(-deltas * dens)
    trans = torch.cat([torch.ones_like(alpha[:, :1]),
                       torch.cumprod(1 - alpha[:, :-1] + 1e-10, dim=-1)], dim=-1)
    w = alpha * trans
    rgb = torch.zeros(o.shape[0], 3)
    opa = torch.zeros(o.shape[0])
    rgb[valid] = (w[..., None] * col).sum(dim=-2)
    opa[valid] = w.sum(dim=-1)
    rgb += 1 - opa[:, None]
    return rgb.reshape(*shape, 3)


# ---------------------------------------------------------------- driver


def generate(data, use_ckpt, out_dir):
    cfg = load_config(os.path.join(data, "config.yaml"))
    with open(os.path.join(data, "vit_config.json")) as f:
        vcfg = json.load(f)
    with open(os.path.join(data, "manifest.json")) as f:
        manifest = json.load(f)
    W = load_weights(data, use_ckpt)
    out = {}
    pngs = {}
    size = cfg["cond_image_size"]
    with torch.no_grad():
        rgba = np.array(Image.open(os.path.join(data, "input.png")).convert("RGBA"))
        fg = resize_foreground(rgba, 0.85)
        pngs["fg_resized.png"] = (fg, "RGBA")
        comp = composite_grey(fg)
        pngs["input_composited.png"] = (comp, "RGB")
        pre = resize_antialias(comp, size)
        out["preprocessed.bin"] = pre
        for name in ("resize_up", "resize_down"):
            src = np.array(Image.open(os.path.join(data, name + "_input.png")).convert("RGB"))
            out[name + "_output.bin"] = resize_antialias(src, size)

        ctx = vit(W, vcfg, pre, out)
        sc = backbone(W, cfg, ctx, out)[None]  # [1, 3, F, 2P, 2P]
        planes = sc[0]

        r = cfg["renderer"]["radius"]
        R = int(round(manifest["files"]["grid_positions.bin"]["shape"][0] ** (1.0 / 3.0)))
        gp = grid_positions(R, r)
        out["grid_positions.bin"] = gp
        _, dens, col = query(W, cfg, planes, gp)
        out["grid_density_act.bin"] = dens
        out["grid_color.bin"] = col

        pp = read_bin(os.path.join(data, "probe_positions.bin"), (-1, 3))
        feats, dens, col = query(W, cfg, planes, pp)
        out["probe_features.bin"] = feats
        out["probe_density_act.bin"] = dens
        out["probe_color.bin"] = col

        cam = manifest["render_camera"]
        n_views = int(re.search(r"n_views=(\d+)", cam["call"]).group(1))
        view = int(re.search(r"view index (\d+)", cam["call"]).group(1))
        ro, rd = render_rays(n_views, view, cam["elevation_deg"], cam["camera_distance"],
                             cam["fovy_deg"], cam["height"], cam["width"])
        out["render_rays_o.bin"] = ro
        out["render_rays_d.bin"] = rd
        out["render_rgb.bin"] = render(W, cfg, planes, ro, rd)

        src_shape = manifest["files"]["posinterp_src.bin"]["shape"]
        dst_shape = manifest["files"]["posinterp_dst_512.bin"]["shape"]
        table = read_bin(os.path.join(data, "posinterp_src.bin"), src_shape)
        g = int(round(math.sqrt(dst_shape[1] - 1)))
        out["posinterp_dst_512.bin"] = interpolate_positions(table, g)

    os.makedirs(out_dir, exist_ok=True)
    for name, (arr, mode) in pngs.items():
        Image.fromarray(arr, mode).save(os.path.join(out_dir, name))
    for name, t in out.items():
        expect = manifest["files"].get(name, {}).get("shape")
        if expect is not None and list(t.shape) != list(expect):
            raise SystemExit("%s: shape %s, manifest says %s" % (name, list(t.shape), expect))
        t.detach().contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, name))
    return sorted(out) + sorted(pngs)


def check(names, data, out_dir):
    """Prints, per file, the largest absolute difference, the largest
    difference relative to max(|expected|, 1e-6) elementwise, and the largest
    absolute difference relative to the file's largest magnitude."""
    worst = 0.0
    print("%-28s %12s %12s %12s" % ("file", "max_abs", "max_rel", "abs/max|ref|"))
    for name in names:
        a_path, b_path = os.path.join(out_dir, name), os.path.join(data, name)
        if name.endswith(".png"):
            a = np.array(Image.open(a_path)).astype(np.float64)
            b = np.array(Image.open(b_path)).astype(np.float64)
        else:
            a = np.fromfile(a_path, dtype="<f4").astype(np.float64)
            b = np.fromfile(b_path, dtype="<f4").astype(np.float64)
        if a.shape != b.shape:
            print("%-28s size differs: %s vs %s" % (name, a.shape, b.shape))
            worst = math.inf
            continue
        both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
        diff = np.where(both_inf, 0.0, np.abs(a - b))
        rel = diff / np.maximum(np.abs(b), 1e-6)
        scale = max(np.abs(b[np.isfinite(b)]).max(), 1e-30)
        print("%-28s %12.3e %12.3e %12.3e" % (name, diff.max(), rel.max(), diff.max() / scale))
        worst = max(worst, diff.max() / scale)
    return worst


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_data = os.path.normpath(os.path.join(here, "..", "..", "tests", "data", "triposr-tiny"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder for the regenerated files")
    ap.add_argument("--data", default=default_data, help="fixture folder (model, config, inputs)")
    ap.add_argument("--ckpt", action="store_true", help="read model.ckpt instead of model.safetensors")
    ap.add_argument("--check", action="store_true", help="compare with the files in --data")
    args = ap.parse_args()
    if args.check and os.path.realpath(args.out) == os.path.realpath(args.data):
        ap.error("--check compares OUT with --data: give another folder as OUT")
    names = generate(args.data, args.ckpt, args.out)
    print("wrote %d files into %s" % (len(names), args.out))
    if args.check:
        worst = check(names, args.data, args.out)
        print("largest difference relative to a file's largest magnitude: %.3e" % worst)
        return 0 if worst < 1e-4 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
