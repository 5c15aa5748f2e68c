"""U^2-Net and IS-Net (DIS) shaped networks in PyTorch, written from the
published architecture descriptions (Qin et al. 2020, "U^2-Net: Going Deeper
with Nested U-Structure for Salient Object Detection"; Qin et al. 2022,
"Highly Accurate Dichotomous Image Segmentation"), for the ONNX runtime's
fixtures and benchmark. The channel widths are a parameter: `scale=1` gives
the real layer sizes of rembg's u2net.onnx and isnet-general-use.onnx, a
small `width` gives the tiny fixture networks.

Upsampling is bilinear with align_corners=False, which is what the published
code's F.upsample / F.interpolate(mode='bilinear') calls do (align_corners
left unset means False since PyTorch 0.4.0). Pooling is 2x2 stride 2 with
ceil_mode=True, so odd sizes keep their last row and column.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def upsample_like(src, tar):
    return F.interpolate(src, size=tar.shape[2:], mode="bilinear", align_corners=False)


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout, dilation=1, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, stride=stride)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class RSU(nn.Module):
    """Residual U-block of `height` levels (RSU-7 .. RSU-4): the encoder
    halves the size between levels, the bottom level is a dilation-2 conv,
    the decoder upsamples to the level above and concatenates."""

    def __init__(self, height, cin, mid, cout):
        super().__init__()
        self.height = height
        self.conv_in = ConvBnRelu(cin, cout)
        self.enc = nn.ModuleList([ConvBnRelu(cout, mid)] +
                                 [ConvBnRelu(mid, mid) for _ in range(height - 2)])
        self.bottom = ConvBnRelu(mid, mid, dilation=2)
        self.dec = nn.ModuleList([ConvBnRelu(2 * mid, mid) for _ in range(height - 2)] +
                                 [ConvBnRelu(2 * mid, cout)])

    def forward(self, x):
        hxin = self.conv_in(x)
        feats = []
        hx = hxin
        for i, conv in enumerate(self.enc):
            if i > 0:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
            hx = conv(hx)
            feats.append(hx)
        hx = self.bottom(hx)
        for i, conv in enumerate(self.dec):
            skip = feats[-1 - i]
            if i > 0:
                hx = upsample_like(hx, skip)
            hx = conv(torch.cat((hx, skip), 1))
        return hx + hxin


class RSUF(nn.Module):
    """RSU-4F: the flat residual block of the two deepest stages, no
    pooling, dilations 1, 2, 4, 8 then back 4, 2, 1."""

    def __init__(self, cin, mid, cout):
        super().__init__()
        self.conv_in = ConvBnRelu(cin, cout)
        self.enc = nn.ModuleList([ConvBnRelu(cout, mid, 1), ConvBnRelu(mid, mid, 2),
                                  ConvBnRelu(mid, mid, 4)])
        self.bottom = ConvBnRelu(mid, mid, dilation=8)
        self.dec = nn.ModuleList([ConvBnRelu(2 * mid, mid, 4), ConvBnRelu(2 * mid, mid, 2),
                                  ConvBnRelu(2 * mid, cout, 1)])

    def forward(self, x):
        hxin = self.conv_in(x)
        feats = []
        hx = hxin
        for conv in self.enc:
            hx = conv(hx)
            feats.append(hx)
        hx = self.bottom(hx)
        for i, conv in enumerate(self.dec):
            hx = conv(torch.cat((hx, feats[-1 - i]), 1))
        return hx + hxin


# (mid, out) of the six encoder stages and five decoder stages at real size.
ENC = [(32, 64), (32, 128), (64, 256), (128, 512), (256, 512), (256, 512)]
DEC = [(256, 512), (128, 256), (64, 128), (32, 64), (16, 64)]  # stage5d .. stage1d


def _w(c, width):
    return c if width is None else max(3, c // width)


class UNetCore(nn.Module):
    """The six-stage nested U shared by U^2-Net and IS-Net."""

    def __init__(self, cin, width):
        super().__init__()
        heights = [7, 6, 5, 4, 0, 0]
        enc, prev = [], cin
        self.enc_out = []
        for h, (mid, out) in zip(heights, ENC):
            mid, out = _w(mid, width), _w(out, width)
            enc.append(RSU(h, prev, mid, out) if h else RSUF(prev, mid, out))
            self.enc_out.append(out)
            prev = out
        self.enc = nn.ModuleList(enc)
        dec = []
        for i, (h, (mid, out)) in enumerate(zip([0, 4, 5, 6, 7], DEC)):
            skip = self.enc_out[4 - i]
            mid, out = _w(mid, width), _w(out, width)
            dec.append(RSU(h, prev + skip, mid, out) if h else RSUF(prev + skip, mid, out))
            prev = out
        self.dec = nn.ModuleList(dec)
        # side outputs read hx1d .. hx5d and hx6
        self.side_in = [m.dec[-1].conv.out_channels for m in reversed(dec)] + [self.enc_out[5]]
        self.sides = nn.ModuleList([nn.Conv2d(c, 1, 3, padding=1) for c in self.side_in])

    def forward(self, x):
        feats = []
        hx = x
        for i, stage in enumerate(self.enc):
            if i > 0:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
            hx = stage(hx)
            feats.append(hx)
        dfeats = [feats[5]]
        for i, stage in enumerate(self.dec):
            skip = feats[4 - i]
            hx = stage(torch.cat((upsample_like(hx, skip), skip), 1))
            dfeats.append(hx)
        dfeats = list(reversed(dfeats))  # hx1d, hx2d, ..., hx5d, hx6
        return [side(f) for side, f in zip(self.sides, dfeats)]


class U2Net(nn.Module):
    """U^2-Net: outputs d0 (the fused map, a 1x1 conv over the six upsampled
    side maps) then d1 .. d6, each through a sigmoid. rembg reads d0."""

    def __init__(self, width=None):
        super().__init__()
        self.core = UNetCore(3, width)
        self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x):
        sides = self.core(x)
        d1 = sides[0]
        ups = [d1] + [upsample_like(d, d1) for d in sides[1:]]
        d0 = self.outconv(torch.cat(ups, 1))
        return tuple(torch.sigmoid(d) for d in [d0] + ups)


class ISNet(nn.Module):
    """IS-Net (DIS): a stride-2 stem conv, then the same nested U; the six
    side maps are upsampled to the input size, each through a sigmoid (d1
    first; rembg reads d1). As in the published code the stem's pooled map
    is computed but stage 1 reads the stem's output itself, so the pooling
    is dead code there and the exporter drops it."""

    def __init__(self, width=None):
        super().__init__()
        self.conv_in = nn.Conv2d(3, _w(64, width), 3, stride=2, padding=1)
        self.core = UNetCore(_w(64, width), width)

    def forward(self, x):
        hxin = self.conv_in(x)
        sides = self.core(hxin)
        return tuple(torch.sigmoid(upsample_like(d, x)) for d in sides)


def randomize(model, seed, calib):
    """Random weights from a fixed seed and BatchNorm statistics that are
    not trivial: the running mean and variance are first measured on
    `calib` (so activations stay in range through the deep graph) and then
    disturbed, and the affine gamma and beta are random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.momentum = 1.0
        model.train()
        model(calib)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.add_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.mul_(torch.exp(0.3 * torch.randn(m.running_var.shape, generator=g)))
                m.momentum = 0.1
        model.eval()
        # The side maps' logits: centred and scaled to a standard deviation of 2 on
        # `calib`, so the sigmoids are not saturated and a wrong value in
        # the graph shows in the outputs. Sides first, then U^2-Net's fuse.
        for group in ([model.core.sides], [getattr(model, "outconv", None)]):
            stds = {}
            hooks = [m.register_forward_hook(
                lambda mod, inp, out: stds.__setitem__(id(mod), (out.mean().item(), out.std().item())))
                for ms in group for m in (ms if isinstance(ms, nn.ModuleList) else [ms])
                if m is not None]
            model(calib)
            for h in hooks:
                h.remove()
            for ms in group:
                for m in (ms if isinstance(ms, nn.ModuleList) else [ms]):
                    if m is not None and id(m) in stds:
                        mean, std = stds[id(m)]
                        f = 2.0 / max(std, 1e-6)
                        m.weight.mul_(f)
                        m.bias.sub_(mean).mul_(f)
    return model


# ---- BiRefNet-shaped network ---------------------------------------------
#
# Written from the BiRefNet paper (Zheng et al. 2024, "Bilateral Reference
# for High-Resolution Dichotomous Image Segmentation") and the Swin
# Transformer paper it takes its encoder from (Liu et al. 2021, "Swin
# Transformer: Hierarchical Vision Transformer using Shifted Windows"): a
# 4x4 stride-4 patch embedding, LayerNorm, blocks of window attention (the
# second of each pair on windows shifted by half a window with torch.roll,
# masked so that no window mixes pixels that were not neighbours) with a
# learnt relative-position bias table read through a fixed index, an MLP
# with GELU, and patch merging (2x2 neighbours concatenated, LayerNorm, a
# linear layer) between stages. The decoder samples its features with a
# deformable 3x3 convolution (offsets from a conv, bilinear weights from
# floor(), int64 indices, gathers), the way ONNX exports of BiRefNet spell
# torchvision's deform_conv2d in plain operators, then upsamples to the
# input size; the output is a sigmoid.


class WindowAttention(nn.Module):
    def __init__(self, dim, window, heads):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()])  # 2, w*w
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("bias_index", rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1])

    def forward(self, x, mask):
        # x: (windows, w*w, dim); mask: (windows, w*w, w*w) or None
        nw, n, c = x.shape
        qkv = self.qkv(x).reshape(nw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)  # nw, heads, n, n
        bias = self.bias_table[self.bias_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            attn = attn + mask.unsqueeze(1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(nw, n, c)
        return self.proj(x)


class SwinBlock(nn.Module):
    def __init__(self, dim, res, window, heads, shift):
        super().__init__()
        self.res, self.window, self.shift = res, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        mask = None
        if shift:
            img = torch.zeros(1, res, res, 1)
            cnt = 0
            for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                    img[:, hs, ws, :] = cnt
                    cnt += 1
            win = self.partition(img).squeeze(-1)  # windows, w*w
            mask = win[:, None, :] - win[:, :, None]
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("mask", mask)

    def partition(self, x):
        b, h, w, c = x.shape
        s = self.window
        x = x.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, s * s, c)

    def forward(self, x):
        b, n, c = x.shape
        h = w = self.res
        s = self.window
        sc = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = self.attn(self.partition(x), self.mask)
        x = x.view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = sc + x.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim, res):
        super().__init__()
        self.res = res
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        b, n, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


def deform_sample(x, offset, k=3):
    """torchvision's deform_conv2d sampling (3x3, stride 1, pad 1, one
    offset group) in plain operators: for each kernel tap t, the point
    (y + dy_t - 1 + offset_y, x + dx_t - 1 + offset_x) sampled bilinearly
    with zero outside the picture. Returns (B, C*k*k, H, W), channel c*k*k
    + t, ready for a 1x1 convolution."""
    b, c, h, w = x.shape
    kk = k * k
    off = offset.view(b, kk, 2, h, w)
    ty = torch.arange(kk, dtype=torch.float32).div(k, rounding_mode="floor") - (k // 2)
    tx = torch.arange(kk, dtype=torch.float32).remainder(k) - (k // 2)
    gy = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    gx = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    py = gy + ty.view(1, kk, 1, 1) + off[:, :, 0]  # b, kk, h, w
    px = gx + tx.view(1, kk, 1, 1) + off[:, :, 1]
    y0 = torch.floor(py)
    x0 = torch.floor(px)
    fy = py - y0
    fx = px - x0
    flat = x.reshape(b, c, h * w)
    acc = 0
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        yy = y0 + dy
        xx = x0 + dx
        wgt = (fy if dy else 1 - fy) * (fx if dx else 1 - fx)
        inside = ((yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)).float()
        yi = yy.clamp(0, h - 1).long()
        xi = xx.clamp(0, w - 1).long()
        idx = (yi * w + xi).view(b, 1, kk * h * w).expand(b, c, kk * h * w)
        v = torch.gather(flat, 2, idx).view(b, c, kk, h, w)
        acc = acc + v * (wgt * inside).unsqueeze(1)
    return acc.reshape(b, c * kk, h, w)


class DeformBlock(nn.Module):
    """A deformable 3x3 convolution: offsets from a 3x3 conv, the sampled
    taps through a 1x1 conv (the deformable conv's weights), ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.offset = nn.Conv2d(cin, 18, 3, padding=1)
        self.conv = nn.Conv2d(cin * 9, cout, 1)

    def forward(self, x):
        return F.relu(self.conv(deform_sample(x, self.offset(x))))


class BiRefNetTiny(nn.Module):
    """Swin encoder of two stages (dim, 2*dim; two blocks each, the second
    shifted) on a side/4 token grid, a decoder that lifts the deep stage to
    the shallow one's grid, concatenates, samples with a deformable block,
    and upsamples to the input side through a sigmoid. One output."""

    def __init__(self, side=64, dim=16, window=4, heads=(2, 4)):
        super().__init__()
        r = side // 4
        self.r = r
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.patch_norm = nn.LayerNorm(dim)
        self.stage1 = nn.Sequential(SwinBlock(dim, r, window, heads[0], 0),
                                    SwinBlock(dim, r, window, heads[0], window // 2))
        self.merge = PatchMerging(dim, r)
        self.stage2 = nn.Sequential(SwinBlock(2 * dim, r // 2, window, heads[1], 0),
                                    SwinBlock(2 * dim, r // 2, window, heads[1], window // 2))
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(2 * dim)
        self.lat2 = nn.Conv2d(2 * dim, dim, 1)
        self.deform = DeformBlock(2 * dim, dim)
        self.head = nn.Conv2d(dim, 1, 3, padding=1)

    def forward(self, x):
        b = x.shape[0]
        t = self.patch_norm(self.patch(x).flatten(2).transpose(1, 2))
        f1 = self.stage1(t)
        f2 = self.stage2(self.merge(f1))
        r = self.r
        f1 = self.norm1(f1).transpose(1, 2).reshape(b, -1, r, r)
        f2 = self.norm2(f2).transpose(1, 2).reshape(b, -1, r // 2, r // 2)
        up = F.interpolate(self.lat2(f2), size=(r, r), mode="bilinear", align_corners=False)
        d = self.deform(torch.cat((up, f1), 1))
        d = F.interpolate(self.head(d), size=x.shape[2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(d)


def randomize_birefnet(model, seed, calib):
    """Random weights from a fixed seed: He-normal convolutions, normal
    linear layers (std 1/sqrt(fan_in)), LayerNorm gamma 1 + N(0, 0.2) and
    beta N(0, 0.1), relative-position biases N(0, 0.5) (so the bias table
    and its index matter), offsets of a few pixels from the deformable
    block's offset conv; then the head is centred and scaled so its logits
    have a standard deviation of 2 on `calib`."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
            elif isinstance(mod, nn.Linear):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * mod.in_features ** -0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + 0.2 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, WindowAttention):
                mod.bias_table.copy_(0.5 * torch.randn(mod.bias_table.shape, generator=g))
        off = model.deform.offset
        off.weight.mul_(0.5)
        off.bias.copy_(torch.randn(off.bias.shape, generator=g) * 1.5)
        model.eval()
        stats = {}
        hook = model.head.register_forward_hook(
            lambda mod, inp, out: stats.update(mean=out.mean().item(), std=out.std().item()))
        model(calib)
        hook.remove()
        f = 2.0 / max(stats["std"], 1e-6)
        model.head.weight.mul_(f)
        model.head.bias.sub_(stats["mean"]).mul_(f)
    return model
