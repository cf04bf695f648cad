"""``from_module``: a PyTorch module as a noether Model, by walking its containers.

Each supported module becomes the noether layer with the same forward pass (float64 rounding
apart); the sample layout is PyTorch's NCHW flattened channel-major.  Parameters keep their
``state_dict`` keys: ``model.torch_names`` maps each noether block (``W1``, ``g2``, ...) to its
key, and :func:`to_state_dict` / :func:`from_state_dict` convert both ways.  Self-attention
(:class:`SelfAttention` around ``nn.MultiheadAttention``) splits one key over several blocks:
``model.torch_rows`` gives the rows of ``in_proj_weight`` / ``in_proj_bias`` that WQ, WK, WV
(bQ, bK, bV) take, per head.  Anything else is a
one-line :class:`~noether.SpecError` naming the module's path and type, never an approximation.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from torch import nn

from ..errors import SpecError
from ..model import (Activation, AvgPool2d, BatchNorm, Conv1d, Conv2d, Flatten, LayerNorm, Linear, MaxPool2d,
                     Model)
from ..model.attention import Attention
from ..model import Residual as ResidualLayer
from ..model.catalogue import z

SUPPORTED = ("Sequential", "Linear", "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "ReLU", "LeakyReLU",
             "GELU", "Tanh", "Sigmoid", "SiLU", "Softplus", "ELU", "Identity", "LayerNorm", "BatchNorm1d",
             "BatchNorm2d", "noether.torch.BatchNorm1d", "noether.torch.BatchNorm2d", "noether.torch.Residual",
             "noether.torch.SelfAttention")


class Residual(nn.Module):
    """The residual wrapper noether imports: ``Residual(inner)(x) = x + inner(x)`` (He et al. 2016);
    ``inner`` must keep the shape of its input."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


class SelfAttention(nn.Module):
    """The self-attention wrapper noether imports: ``SelfAttention(embed_dim, num_heads, bias=True)``
    holds ``self.attn = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)``
    and maps a batch (N, T, E) to ``attn(x, x, x, need_weights=False)[0]`` (N, T, E): query = key
    = value, no mask, no dropout.  ``SelfAttention.wrap(mha)`` wraps an existing module instead
    (with ``batch_first=False`` it transposes, so the wrapper's input is still (N, T, E)).
    Imported as noether's ``attention`` layer (heads = num_heads, d_k = d_v = E / heads, out = E)
    with the model's ``seq = T``; follow it with ``nn.Flatten()`` before a ``Linear``."""

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)

    @classmethod
    def wrap(cls, mha: nn.MultiheadAttention) -> "SelfAttention":
        if not isinstance(mha, nn.MultiheadAttention):
            raise SpecError("mha", f"must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.attn = mha
        return self

    def forward(self, x):
        if self.attn.batch_first:
            return self.attn(x, x, x, need_weights=False)[0]
        x = x.transpose(0, 1)
        return self.attn(x, x, x, need_weights=False)[0].transpose(0, 1)


class _BatchStatistics:
    """The forward of ``nn.BatchNorm1d``/``2d`` through ``torch.batch_norm``, which (unlike
    ``F.batch_norm``, which refuses eps <= 0 in training) accepts eps = 0: the exact scale symmetry
    of the weights feeding a normalisation (Kunin et al. 2021) needs it, eps > 0 breaks it."""

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:             # cumulative average, as PyTorch's
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return torch.batch_norm(input, self.weight, self.bias, self.running_mean if keep else None,
                                self.running_var if keep else None, use_batch, factor, self.eps, False)


class BatchNorm1d(_BatchStatistics, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that also trains with ``eps=0`` (same arguments, same buffers)."""


class BatchNorm2d(_BatchStatistics, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that also trains with ``eps=0`` (same arguments, same buffers)."""


def _refuse(path, mod, why):
    raise SpecError(path or "module", f"{type(mod).__name__}: {why}")


def _exact(x: float) -> sp.Rational:
    return sp.Rational(repr(float(x)))


def _activation(path, mod):
    """The sympy σ(z) of an activation module (its own hyperparameters read, never assumed)."""
    t = type(mod)
    if t is nn.ReLU:
        return "relu"
    if t is nn.Tanh:
        return "tanh"
    if t is nn.Sigmoid:
        return "sigmoid"
    if t is nn.SiLU:
        return "silu"
    if t is nn.GELU:
        if mod.approximate != "none":
            _refuse(path, mod, f"approximate={mod.approximate!r} is not supported (use approximate='none')")
        return "gelu"
    if t is nn.LeakyReLU:
        a = _exact(mod.negative_slope)
        return sp.Max(z, a * z) if a <= 1 else sp.Min(z, a * z)
    if t is nn.ELU:
        return sp.Piecewise((z, z > 0), (_exact(mod.alpha) * (sp.exp(z) - 1), True))
    if t is nn.Softplus:
        # PyTorch returns z itself where beta·z > threshold (an error of ≤ e^-threshold/beta there)
        b = _exact(mod.beta)
        return sp.log(1 + sp.exp(b * z)) / b
    return None


class _Walk:
    def __init__(self):
        self.layers, self.names = [], {}   # names: (layer object, role) -> state_dict key
        self.rows = {}                     # (layer object, role) -> (start, stop, trailing shape) of a split key
        self.seq = None                    # T of the attention layers: the input's tokens
        self.input_shape = None            # per-sample shape of the example input

    def shape_error(self, path, mod, shape, need):
        _refuse(path, mod, f"expects {need}, but its input has per-sample shape {tuple(shape)}")

    def add(self, path: str, mod: nn.Module, shape: tuple, out: list) -> tuple:
        """Append the layers of ``mod`` (per-sample input ``shape``) to ``out``; its output shape."""
        pre = path + "." if path else ""
        if type(mod) is nn.Sequential:
            for name, child in mod.named_children():
                shape = self.add(pre + name, child, shape, out)
            return shape
        if type(mod) is Residual:
            inner = []
            new = self.add(pre + "inner", mod.inner, shape, inner)
            if tuple(new) != tuple(shape):
                _refuse(path, mod, f"its inner module maps shape {tuple(shape)} to {tuple(new)}; x + F(x) "
                        "needs the same shape")
            out.append(ResidualLayer(inner, field=path or "module"))
            return shape
        if type(mod) is nn.Identity:
            return shape
        if type(mod) is SelfAttention:
            return self.attention(path, mod, shape, out)
        if type(mod) is nn.MultiheadAttention:
            _refuse(path, mod, "needs query, key and value; wrap it as noether.torch.SelfAttention.wrap(mha) "
                    "(self-attention, no mask)")
        act = _activation(path, mod)
        if act is not None:
            out.append(Activation(act))
            return shape
        t = type(mod)
        if t is nn.Linear:
            if len(shape) != 1 or shape[0] != mod.in_features:
                self.shape_error(path, mod, shape, f"one feature axis of {mod.in_features} (flatten first)")
            layer = Linear(mod.out_features, bias=mod.bias is not None)
            self.param(layer, "W", pre + "weight", mod.bias is not None and (layer, "b", pre + "bias"))
            out.append(layer)
            return (mod.out_features,)
        if t is nn.Conv2d or t is nn.Conv1d:
            two = t is nn.Conv2d
            if len(shape) != (3 if two else 2):
                self.shape_error(path, mod, shape, "(channels, height, width)" if two else "(channels, length)")
            if shape[0] != mod.in_channels:
                self.shape_error(path, mod, shape, f"{mod.in_channels} input channels first")
            if any(d != 1 for d in mod.dilation) or mod.groups != 1 or not isinstance(mod.padding, tuple) \
                    or mod.padding_mode != "zeros":
                _refuse(path, mod, "only dilation 1, groups 1 and numeric zero padding are supported")
            if two:
                layer = Conv2d(mod.out_channels, list(mod.kernel_size), mod.in_channels, list(mod.stride),
                               list(mod.padding), mod.bias is not None, shape[1], field=path or "module")
            else:
                if mod.stride != (1,) or mod.padding != (0,):
                    _refuse(path, mod, "conv1d is supported with stride 1 and padding 0 only")
                layer = Conv1d(mod.out_channels, mod.kernel_size[0], mod.in_channels, mod.bias is not None,
                               field=path or "module")
            self.param(layer, "W", pre + "weight", mod.bias is not None and (layer, "b", pre + "bias"))
            out.append(layer)
            return self.bound_shape(layer, shape, out)
        if t is nn.MaxPool2d or t is nn.AvgPool2d:
            if len(shape) != 3:
                self.shape_error(path, mod, shape, "(channels, height, width)")
            if t is nn.MaxPool2d and (mod.dilation not in (1, (1, 1)) or mod.ceil_mode or mod.return_indices):
                _refuse(path, mod, "only dilation 1, ceil_mode False and return_indices False are supported")
            if t is nn.AvgPool2d and (mod.ceil_mode or not mod.count_include_pad or mod.divisor_override):
                _refuse(path, mod, "only ceil_mode False, count_include_pad True, no divisor_override are supported")
            cls = MaxPool2d if t is nn.MaxPool2d else AvgPool2d
            stride = mod.stride if mod.stride not in (None, ()) else mod.kernel_size
            layer = cls(_pair(mod.kernel_size), shape[0], _pair(stride), _pair(mod.padding), shape[1],
                        field=path or "module")
            out.append(layer)
            return self.bound_shape(layer, shape, out)
        if t is nn.Flatten:
            if mod.start_dim != 1 or mod.end_dim != -1:
                _refuse(path, mod, "only start_dim=1, end_dim=-1 (flatten each sample) is supported")
            out.append(Flatten())
            return (math.prod(shape),)
        if t in (nn.BatchNorm1d, nn.BatchNorm2d, BatchNorm1d, BatchNorm2d):
            two_d = issubclass(t, nn.BatchNorm2d)
            if not mod.training:
                _refuse(path, mod, "is in eval mode: it normalises with running statistics, an affine map "
                        "whose symmetries differ from training mode's; call module.train()")
            if mod.momentum is None and mod.track_running_stats:
                pass  # cumulative running averages: buffers only, the training-mode forward is unchanged
            if shape[0] != mod.num_features or len(shape) != (3 if two_d else len(shape)):
                self.shape_error(path, mod, shape, f"{mod.num_features} channels first")
            layer = BatchNorm(mod.affine, float(mod.eps), mod.num_features if len(shape) > 1 else None)
            if mod.affine:
                self.param(layer, "g", pre + "weight", (layer, "beta", pre + "bias"))
            out.append(layer)
            return shape
        if t is nn.LayerNorm:
            if tuple(mod.normalized_shape) != tuple(shape) or len(shape) != 1:
                self.shape_error(path, mod, shape, f"normalized_shape {tuple(mod.normalized_shape)} equal to "
                                 "the single feature axis")
            if mod.elementwise_affine and (mod.bias is None):
                _refuse(path, mod, "an affine LayerNorm without bias is not supported")
            layer = LayerNorm(bool(mod.elementwise_affine), float(mod.eps))
            if mod.elementwise_affine:
                self.param(layer, "g", pre + "weight", (layer, "beta", pre + "bias"))
            out.append(layer)
            return shape
        raise SpecError(path or "module", f"unsupported module type {t.__name__}; supported: " + ", ".join(SUPPORTED))

    def attention(self, path, wrapper, shape, out):
        """``SelfAttention`` as noether's ``attention``: in_proj rows [Q; K; V], each split per head."""
        pre = (path + "." if path else "") + "attn."
        mod, apath = wrapper.attn, (path + "." if path else "") + "attn"
        E, H = mod.embed_dim, mod.num_heads
        if not mod._qkv_same_embed_dim or mod.kdim != E or mod.vdim != E:
            _refuse(apath, mod, f"kdim={mod.kdim}, vdim={mod.vdim} differ from embed_dim={E}; supported: kdim = "
                    "vdim = embed_dim")
        if mod.bias_k is not None or mod.bias_v is not None:
            _refuse(apath, mod, "add_bias_kv=True is not supported (supported: add_bias_kv=False)")
        if mod.add_zero_attn:
            _refuse(apath, mod, "add_zero_attn=True is not supported (supported: add_zero_attn=False)")
        if mod.dropout != 0:
            _refuse(apath, mod, f"dropout={mod.dropout} is not supported (supported: dropout=0.0)")
        if len(shape) != 2 or shape[1] != E:
            self.shape_error(apath, mod, shape, f"(tokens, {E}) per sample: a batch (N, T, {E})")
        if tuple(shape) != tuple(self.input_shape):
            # noether's seq is the model's: a sample is T × E tokens from the input on
            self.shape_error(apath, mod, shape, f"the model's input tokens {tuple(self.input_shape)} (only "
                             "activations, Residual and SelfAttention may come before it)")
        self.seq = shape[0]
        bias = mod.in_proj_bias is not None
        if bias != (mod.out_proj.bias is not None):
            _refuse(apath, mod, "in_proj and out_proj must both have biases or both not")
        d = E // H
        layer = Attention(d, H, d, E, bias, field=apath)
        for i, t in enumerate("QKV"):
            self.names[(id(layer), "W" + t)] = pre + "in_proj_weight"
            self.rows[(id(layer), "W" + t)] = (i * E, (i + 1) * E, (E,))
            if bias:
                self.names[(id(layer), "b" + t)] = pre + "in_proj_bias"
                self.rows[(id(layer), "b" + t)] = (i * E, (i + 1) * E, ())
        self.param(layer, "WO", pre + "out_proj.weight", bias and (layer, "bO", pre + "out_proj.bias"))
        out.append(layer)
        return shape

    def param(self, layer, role, key, second=None):
        self.names[(id(layer), role)] = key
        if second:
            l2, r2, k2 = second
            self.names[(id(l2), r2)] = k2

    @staticmethod
    def bound_shape(layer, shape, out):
        """Bind a throwaway copy to read the output geometry (the Model binds the real one)."""
        layer.bind(math.prod(shape), 0)
        return (layer.out_dim() // (layer.Ho * layer.Wo), layer.Ho, layer.Wo) if hasattr(layer, "Ho") \
            else (layer.channels, layer.out_dim() // layer.channels)


def _pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [int(v), int(v)]


def _check_tensors(module: nn.Module):
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if p.device.type != "cpu":
            raise SpecError(name, f"is on device {p.device}; noether reads parameters on the CPU: "
                            "move the module with module.cpu() (or pass CPU copies)")
        if p.is_floating_point() and p.dtype not in (torch.float32, torch.float64):
            raise SpecError(name, f"has dtype {p.dtype}; supported: torch.float32, torch.float64 (no float16/bfloat16)")


def from_module(module: nn.Module, example_input, loss: str = "cross_entropy", name: str | None = None):
    """(Model, θ) for ``module``; ``example_input`` is a batch (N, ...) fixing the sample shape.

    θ is float64, in the model's parameter order; ``model.torch_names`` maps blocks to keys."""
    if not isinstance(module, nn.Module):
        raise SpecError("module", f"must be a torch.nn.Module, got {type(module).__name__}")
    _check_tensors(module)
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 2:
        raise SpecError("example_input", "must be a torch tensor batch of shape (N, ...) with N >= 1")
    walk = _Walk()
    walk.input_shape = tuple(example_input.shape[1:])
    layers: list = []
    shape = walk.add("", module, tuple(example_input.shape[1:]), layers)
    if len(shape) != 1:
        raise SpecError("module", f"its output has per-sample shape {tuple(shape)}; end with one feature axis")
    size = math.prod(example_input.shape[1:])
    model = Model(size // (walk.seq or 1), layers, loss, name or type(module).__name__.lower(), walk.seq)
    model.torch_names, model.torch_rows = {}, {}
    for layer in _flat(layers):
        for b in layer.blocks():
            role = b.name.rstrip("0123456789")
            model.torch_names[b.name] = walk.names[(id(layer), role)]
            if (id(layer), role) in walk.rows:
                model.torch_rows[b.name] = walk.rows[(id(layer), role)]
    return model, from_state_dict(model, module.state_dict())


def _flat(layers):
    for l in layers:
        yield from (_flat(l.inner) if isinstance(l, ResidualLayer) else [l])


def from_state_dict(model, state_dict) -> np.ndarray:
    """θ (float64) of ``model`` from a module's ``state_dict`` (keys in ``model.torch_names``)."""
    names, rows = _names(model), getattr(model, "torch_rows", {})
    theta = np.empty(model.D)
    for b in model.blocks:
        key = names[b.name]
        if key not in state_dict:
            raise SpecError("state_dict", f"missing key {key!r} (block {b.name})")
        t = state_dict[key].detach().cpu().to(torch.float64).numpy()
        if b.name in rows:   # a slice of rows of a shared key (attention's in_proj: Q, K, V per head)
            start, stop, rest = rows[b.name]
            if t.shape[1:] != rest or t.shape[0] < stop:
                raise SpecError(f"state_dict.{key}", f"has shape {t.shape}, block {b.name} needs rows "
                                f"{start}:{stop} of shape (>= {stop}, {', '.join(map(str, rest))})")
            t = t[start:stop].reshape(b.shape)
        if t.shape != b.shape:
            raise SpecError(f"state_dict.{key}", f"has shape {t.shape}, block {b.name} needs {b.shape}")
        theta[model.offsets[b.name]:model.offsets[b.name] + b.size] = t.ravel()
    return theta


def to_state_dict(model, theta, dtype=torch.float64) -> dict:
    """{state_dict key: tensor} for θ; load it with ``module.load_state_dict(sd, strict=False)``
    (buffers such as BatchNorm running statistics are not parameters of the model)."""
    names, rows = _names(model), getattr(model, "torch_rows", {})
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (model.D,):
        raise SpecError("theta", f"must have shape ({model.D},), got {theta.shape}")
    parts: dict = {}   # key -> [(start, array)]: split keys are stacked back in row order
    for b, v in zip(model.blocks, model.unflatten(theta).values()):
        if b.name in rows:
            start, stop, rest = rows[b.name]
            parts.setdefault(names[b.name], []).append((start, v.reshape((stop - start,) + rest)))
        else:
            parts[names[b.name]] = [(0, v)]
    return {k: torch.tensor(np.concatenate([a for _, a in sorted(p, key=lambda q: q[0])]) if len(p) > 1
                            else p[0][1], dtype=dtype) for k, p in parts.items()}


def _names(model) -> dict:
    names = getattr(model, "torch_names", None)
    if names is None:
        raise SpecError("model", "was not imported by noether.torch.from_module (no torch parameter names)")
    return names
