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
