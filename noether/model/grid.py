"""Shared geometry of the 2-d layers (conv2d, maxpool2d, avgpool2d, channel batchnorm).

A sample is ``in_channels`` × H × W, flattened channel-major (x[(c·H + i)·W + j]), PyTorch's NCHW
order.  ``height`` fixes H (default: the square H = W).  A window (kernel, stride, padding) maps
H to ⌊(H + 2p − k)/s⌋ + 1; padded positions are absent from the sums (zero padding) and from the
max (PyTorch pads a max-pool with −∞).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SpecError
from .fields import positive_int


def pair(table: dict, key: str, field: str, default, low: int = 1) -> tuple[int, int]:
    """An int or a two-element list of ints >= ``low``."""
    v = table.get(key, default)
    vals = list(v) if isinstance(v, (list, tuple)) else [v, v]
    if len(vals) != 2 or any(isinstance(x, bool) or not isinstance(x, int) or x < low for x in vals):
        raise SpecError(f"{field}.{key}", f"must be an integer >= {low} or a list of two, got {v!r}")
    return int(vals[0]), int(vals[1])


class Grid:
    """Mixin: ``in_channels``, ``height`` and a window; ``bind`` checks and sets H, W, Ho, Wo."""

    def set_grid(self, in_channels, kernel, stride, padding, height, field):
        t = {"in_channels": in_channels, "kernel": kernel, "stride": stride, "padding": padding}
        self.field = field
        self.in_channels = positive_int(t, "in_channels", field)
        self.height = None if height is None else positive_int({"height": height}, "height", field)
        self.kernel = pair(t, "kernel", field, None)
        self.stride = pair(t, "stride", field, None)
        self.padding = pair(t, "padding", field, None, low=0)

    @staticmethod
    def grid_kwargs(table: dict, field: str, stride_default=1) -> dict:
        if "kernel" not in table:
            raise SpecError(f"{field}.kernel", "missing; an integer or a list of two")
        return {"in_channels": table.get("in_channels", 1), "kernel": table["kernel"],
                "stride": table.get("stride", stride_default if stride_default is not None else table["kernel"]),
                "padding": table.get("padding", 0), "height": table.get("height"), "field": field}

    def grid_spec(self) -> dict:
        out = {"in_channels": self.in_channels, "kernel": list(self.kernel), "stride": list(self.stride),
               "padding": list(self.padding)}
        return out | ({"height": self.height} if self.height is not None else {})

    def bind_grid(self, in_dim: int) -> None:
        C = self.in_channels
        if in_dim % C:
            raise SpecError(f"{self.field}.in_channels", f"input size {in_dim} is not a multiple of "
                            f"in_channels = {C}")
        area = in_dim // C
        if self.height is None:
            H = math.isqrt(area)
            if H * H != area:
                raise SpecError(f"{self.field}.height", f"missing; {area} positions per channel is not a square")
        else:
            H = self.height
            if area % H:
                raise SpecError(f"{self.field}.height", f"{area} positions per channel is not a multiple of {H}")
        W = area // H
        self.H, self.W = H, W
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        if 2 * ph > kh or 2 * pw > kw:
            raise SpecError(f"{self.field}.padding", "must be at most half the kernel (PyTorch's rule)")
        if kh > H + 2 * ph or kw > W + 2 * pw:
            raise SpecError(f"{self.field}.kernel", f"{self.kernel} is larger than the padded input "
                            f"{H + 2 * ph}x{W + 2 * pw}")
        self.Ho, self.Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1

    def windows(self):
        """(output position (a, b), [(input position (i, j), tap (u, v))]) with padding skipped."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        for a in range(self.Ho):
            for b in range(self.Wo):
                taps = [((a * sh + u - ph, b * sw + v - pw), (u, v)) for u in range(kh) for v in range(kw)
                        if 0 <= a * sh + u - ph < self.H and 0 <= b * sw + v - pw < self.W]
                yield (a, b), taps

    def patches(self, X: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, C, Ho, Wo, kh, kw) view-free copy of the padded windows of a batch."""
        N = X.shape[0]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        Xp = np.full((N, self.in_channels, self.H + 2 * ph, self.W + 2 * pw), fill)
        Xp[:, :, ph:ph + self.H, pw:pw + self.W] = X.reshape(N, self.in_channels, self.H, self.W)
        out = np.empty((N, self.in_channels, self.Ho, self.Wo, kh, kw))
        for u in range(kh):
            for v in range(kw):
                out[..., u, v] = Xp[:, :, u:u + sh * self.Ho:sh, v:v + sw * self.Wo:sw]
        return out

    def unpatch(self, dP: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`patches`: sum window gradients back onto the (unpadded) input."""
        N = dP.shape[0]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        dXp = np.zeros((N, self.in_channels, self.H + 2 * ph, self.W + 2 * pw))
        for u in range(kh):
            for v in range(kw):
                dXp[:, :, u:u + sh * self.Ho:sh, v:v + sw * self.Wo:sw] += dP[..., u, v]
        return dXp[:, :, ph:ph + self.H, pw:pw + self.W].reshape(N, -1)

    def grid_axes(self, ins, ctx):
        """The channel axis of the input (free when the layout allows), spatial axes fixed."""
        cin, h, w = ctx.split(ins, (self.in_channels, self.H, self.W))
        h.fix()
        w.fix()
        return cin

    def grid_describe(self) -> str:
        return (f"{self.in_channels}x{self.H}x{self.W}, kernel {self.kernel}, stride {self.stride}, "
                f"padding {self.padding}")
