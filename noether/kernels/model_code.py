"""The model part of a generated module: each layer's kernel definitions (one copy per distinct
code), the unrolled forward/backward pass ``loss_grad`` on one flat workspace, and its row-chunked
copy ``loss_grad_par``."""

from __future__ import annotations

import re

from .printer import KernelPrinter, scalar_function


class _Ctx:
    """What a layer's ``kernel_defs`` / ``kernel_forward`` / ``kernel_backward`` may use: offsets,
    a unique id per layer, and the printers (passed in, so ``model`` never imports ``kernels``)."""

    scalar_function = staticmethod(scalar_function)
    KernelPrinter = KernelPrinter

    def __init__(self, model):
        self.offsets = model.offsets
        self._uids: dict[int, int] = {}
        self._probe = False

    def uid(self, layer) -> int | str:
        """The layer's number in generated names (``act_fwd_3``).  While :func:`layer_defs` collects
        the definitions it is a placeholder, so that layers printing the same code share one number."""
        if self._probe:
            return f"_uid{id(layer)}_"
        return self._number(id(layer))

    def _number(self, key: int) -> int:
        return self._uids.setdefault(key, len(set(self._uids.values())) + 1)


def layer_defs(model, ctx: _Ctx) -> list[str]:
    """Each layer's ``kernel_defs``, printed once per distinct code: a layer whose definitions are
    another's up to its own number (twelve ReLU layers: one σ, one σ′, one forward and one backward
    loop) is given that layer's number instead of a copy, which numba would compile again."""
    ctx._probe = True
    try:
        texts = [(layer, layer.kernel_defs(ctx)) for layer in model.layers]
    finally:
        ctx._probe = False
    seen, defs = {}, []
    for layer, text in texts:
        own = f"_uid{id(layer)}_"
        key = (type(layer), (text or "").replace(own, "_uid_"))
        if text and own in text and key in seen:
            ctx._uids[id(layer)] = seen[key]
            continue
        if text:
            defs.append(text)
            seen.setdefault(key, ctx.uid(layer))
    # placeholders left (this layer's own, and those of layers inside containers) get their numbers
    return [re.sub(r"_uid(\d+)_", lambda m: str(ctx._number(int(m.group(1)))), d) for d in defs]


def model_code(model) -> str:
    """The model's pass ``loss_grad(theta, X, Y, grad, ws, gparts, lparts)`` (the form of
    :data:`noether.kernels.loops.LOSS_GRAD`), its row-chunked copy ``loss_grad_par`` and their
    workspaces: one flat buffer, cut into the layers' (N, d) intermediates by offset."""
    ctx = _Ctx(model)
    defs = layer_defs(model, ctx)
    n = len(model.layers)
    dims = [layer.out_dim() for layer in model.layers]
    ws_dims = dims + [dims[-1]] + [model.layers[l].in_dim for l in range(n - 1, -1, -1)]
    starts = [sum(ws_dims[:i]) for i in range(len(ws_dims))]

    def view(i):
        """Slot i of the flat workspace: the rows N x ws_dims[i] at offset N * (the slots before it)."""
        lo = f"N * {starts[i]}" if starts[i] else "0"
        return f"ws[{lo}:N * {starts[i] + ws_dims[i]}].reshape((N, {ws_dims[i]}))"
    lines = ["@njit(cache=True)", "def loss_grad(theta, X, Y, grad, ws, gparts, lparts):",
             '    """Loss and its gradient (into grad) for a batch of N rows; ws: a flat workspace of at',
             "    least N * WS_SIZE floats (make_workspace); gparts, lparts: unused (loss_grad_par's form).\"\"\"",
             "    N = X.shape[0]", "    A0 = X"]
    for l, layer in enumerate(model.layers):
        if layer.has_params:      # the blocks the layer's calls read by offset, named
            lines.append("    # " + ", ".join(f"{b.name}{list(b.shape)} = theta[{model.offsets[b.name]}:"
                                             f"{model.offsets[b.name] + b.size}]" for b in layer.blocks()))
        lines.append(f"    A{l + 1} = {view(l)}")
        lines += ["    " + s for s in layer.kernel_forward(ctx, f"A{l}", f"A{l + 1}")]
    lines.append(f"    D{n} = {view(n)}")
    lines.append(f"    loss = {model.loss.kernel(f'A{n}', 'Y', f'D{n}')}")
    first_param = next(i for i, l in enumerate(model.layers) if l.has_params)
    for l in range(n - 1, first_param - 1, -1):
        layer = model.layers[l]
        need = l > first_param
        lines.append(f"    D{l} = {view(n + 1 + (n - 1 - l))}")
        lines += ["    " + s for s in layer.kernel_backward(ctx, f"A{l}", f"D{l + 1}", f"D{l}", need)]
    lines.append("    return loss")
    ws = (f"WS_DIMS = {tuple(ws_dims)!r}\nWS_SIZE = {sum(ws_dims)}   # floats of workspace per row\n\n\n"
          "def make_workspace(N):\n    return np.zeros(N * WS_SIZE)\n")
    return "\n".join(d for d in defs if d) + "\n\n" + "\n".join(lines) + "\n\n\n" + ws + "\n\n" + \
        parallel_code(model)


def sample_separable(model) -> bool:
    """The batch loss is a mean of per-sample terms (the :class:`~noether.model.loss.Loss` contract)
    and no layer couples samples (``batch_coupled``): row chunks of the batch can be evaluated apart."""
    return not any(l.batch_coupled for l in model.layers)   # containers report their inner layers


def parallel_code(model) -> str:
    """``loss_grad_par``: the batch in P row chunks over threads (P = gparts.shape[0]), each chunk's
    mean gradient weighted by N_c/N and summed in chunk order, so the result does not depend on the
    thread schedule.  Each thread evaluates its chunks in its own slot of the workspace
    (``make_workspace_par``: threads x the rows of one chunk), which stays in that core's cache from
    chunk to chunk.  For a batch-coupled model it is the serial ``loss_grad``."""
    slots = ("\n\ndef make_workspace_par(rows, threads):\n"
             '    """Per-thread workspace slots (threads x rows x WS_SIZE floats) for loss_grad_par."""\n'
             "    return np.zeros(threads * rows * WS_SIZE)\n")
    if not sample_separable(model):
        return (f"SAMPLE_PARALLEL = False{slots}\n\n"
                "loss_grad_par = loss_grad   # a layer couples the samples of a batch: serial only\n")
    return f'''SAMPLE_PARALLEL = True{slots}

@njit(cache=True, parallel=True)
def loss_grad_par(theta, X, Y, grad, ws, gparts, lparts):
    """Loss and gradient as loss_grad, the N samples split in P row chunks evaluated in parallel;
    ws from make_workspace_par (a slot per thread of R = ceil(N / P) rows, as run.chunks sizes it)."""
    P = gparts.shape[0]
    N = X.shape[0]
    slot = -(-N // P) * WS_SIZE
    for c in prange(P):
        lo = c * N // P
        hi = (c + 1) * N // P
        t = get_thread_id()
        lparts[c] = loss_grad(theta, X[lo:hi], Y[lo:hi], gparts[c], ws[t * slot:(t + 1) * slot], gparts, lparts)
    L = 0.0
    for r in range(grad.shape[0]):
        grad[r] = 0.0
    for c in range(P):
        w = ((c + 1) * N // P - c * N // P) / N      # exact when N/P is an integer power of two
        L += w * lparts[c]
        for r in range(grad.shape[0]):
            grad[r] += w * gparts[c, r]
    return L
'''
