"""Speed machinery of the latent search: the private, frozen copies of the networks it runs.

Prepared once per search: eval-mode BatchNorm folded into the convolution before it
(:func:`fold_batchnorm`), the 1x1 input convolutions of torchvision's Inception blocks stacked into
one (:func:`fuse_inception_branches`), weights in channels-last memory format, and for
``precision="bf16"`` convolution/linear weights stored in bfloat16 with the forward passes under
bf16 autocast (the loss terms and the optimiser stay in fp32). On a CPU, glibc is told to keep
freed memory mapped (:func:`~inpaintkit.utils.device.keep_freed_cpu_memory`). Each preparation is
exact up to float round-off, and the folding is verified on a sample input. None of it touches the
caller's modules: they are deep-copied first. See ``benchmarks/speed/`` for the measurements behind the defaults.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import CompositeLoss, PreparedInputs
from ..utils import warn_if_slow_bf16
from ..utils.device import keep_freed_cpu_memory

if TYPE_CHECKING:
    from . import SearchConfig

__all__ = ["fold_batchnorm", "fuse_inception_branches", "loss_evaluator"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    # exact types only: subclasses may change forward (timm's BatchNormAct2d adds an activation)
    return (type(conv) in _CONVS and type(bn) in _NORMS and not bn.training
            and bn.running_mean is not None and bn.running_var is not None
            and conv.out_channels == bn.num_features
            and _NORMS.index(type(bn)) == _CONVS.index(type(conv)) % 3)  # same dimensionality


def _traced_pairs(parent: nn.Module) -> list[tuple[str, str]]:
    """``(conv, bn)`` direct children of ``parent`` whose forward feeds the conv's output only into
    the BatchNorm (checked on an ``torch.fx`` trace; untraceable modules give no pairs)."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(parent).graph
    except Exception:  # noqa: BLE001 - data-dependent control flow etc.: leave the module alone
        return []
    calls: dict[str, int] = {}
    for n in graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    pairs = []
    for n in graph.nodes:
        if n.op != "call_module" or "." in n.target or len(n.args) != 1 or n.kwargs:
            continue
        src = n.args[0]
        if (isinstance(src, torch.fx.Node) and src.op == "call_module" and "." not in src.target
                and len(src.users) == 1 and calls[n.target] == 1 and calls[src.target] == 1):
            pairs.append((src.target, n.target))
    return pairs


def fold_batchnorm(module: nn.Module) -> int:
    """Fold eval-mode BatchNorm layers into the convolution before them, in place.

    Folds adjacent ``Conv -> BatchNorm`` pairs of every ``nn.Sequential``, and ``conv``/``bn``
    children of any other module whose traced forward computes ``bn(conv(x))`` with nothing else
    reading the convolution's output (torchvision's ``BasicConv2d``). The BatchNorm is replaced by
    ``nn.Identity``. Only for frozen, eval-mode networks (their running statistics are constants).

    Returns:
        The number of BatchNorm layers folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(module.modules()):
        children = parent._modules
        if type(parent) is nn.Sequential:
            keys = list(children)
            pairs = list(zip(keys, keys[1:]))
        elif (any(type(c) in _CONVS for c in children.values())
              and any(type(c) in _NORMS for c in children.values())):
            pairs = _traced_pairs(parent)
        else:
            continue
        for a, b in pairs:
            conv, bn = children.get(a), children.get(b)
            if conv is None or bn is None or not _foldable(conv, bn):
                continue
            transpose = isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
            fused = fuse_conv_bn_eval(conv, bn, transpose=transpose)
            fused.requires_grad_(False)
            children[a], children[b] = fused, nn.Identity()
            folded += 1
    return folded


class _FusedInception(nn.Module):
    """A torchvision ``Inception`` block whose three 1x1 convolutions on the block input run as one.

    ``branch1`` and the 1x1 reductions of ``branch2`` and ``branch3`` read the same input, so their
    (BatchNorm-folded) weights stack into one convolution, split after its ReLU. The output is the
    block's up to float round-off. What it saves is in the backward pass: the input's gradient comes
    from one convolution instead of three gradients summed (full-size additions). On a 2-core AMX
    Xeon the effect on the search's speed was within noise (``benchmarks/results/speed-amx-ab-fuse.md``).
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        convs = [block.branch1.conv, block.branch2[0].conv, block.branch3[0].conv]
        self.sizes = [c.out_channels for c in convs]
        w = torch.cat([c.weight for c in convs])
        b = torch.cat([c.bias if c.bias is not None else w.new_zeros(c.out_channels) for c in convs])
        self.reduce = nn.Conv2d(w.shape[1], w.shape[0], 1).to(w.device, w.dtype)
        with torch.no_grad():
            self.reduce.weight.copy_(w)
            self.reduce.bias.copy_(b)
        self.reduce.requires_grad_(False)
        self.branch2, self.branch3, self.branch4 = block.branch2[1], block.branch3[1], block.branch4

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b1, r2, r3 = F.relu(self.reduce(x), inplace=True).split(self.sizes, 1)
        return torch.cat([b1, self.branch2(r2), self.branch3(r3), self.branch4(x)], 1)


def _fusable_inception(block: nn.Module) -> bool:
    try:
        from torchvision.models.googlenet import BasicConv2d, Inception
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return False
    if type(block) is not Inception:
        return False
    firsts = [block.branch1, block.branch2[0], block.branch3[0]]
    return all(type(b) is BasicConv2d and type(b.bn) is nn.Identity and type(b.conv) is nn.Conv2d
               and b.conv.kernel_size == (1, 1) and b.conv.stride == (1, 1) and b.conv.padding == (0, 0)
               and b.conv.dilation == (1, 1) and b.conv.groups == 1 and not b.training
               for b in firsts)


def fuse_inception_branches(module: nn.Module) -> int:
    """Replace BatchNorm-folded torchvision ``Inception`` blocks by :class:`_FusedInception`, in place.

    Only for frozen, eval-mode networks, after :func:`fold_batchnorm` (an unfolded block is left as
    it is). Returns the number of blocks fused.
    """
    fused = 0
    for parent in list(module.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and _fusable_inception(child):
                parent._modules[name] = _FusedInception(child)
                fused += 1
    return fused


def _outputs(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _outputs(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _outputs(v)]
    return []


def _same_outputs(a: Any, b: Any, rtol: float = 1e-3) -> bool:
    ta, tb = _outputs(a), _outputs(b)
    if len(ta) != len(tb):
        return False
    for u, v in zip(ta, tb):
        if u.shape != v.shape:
            return False
        scale = v.float().abs().max().clamp_min(1e-6)
        if not bool(((u.float() - v.float()).abs().max() <= rtol * scale)):
            return False
    return True


def _search_copy(module: nn.Module | None, run: Callable[[nn.Module], Any] | None, *, fold_bn: bool,
                 channels_last: bool, bf16_weights: bool) -> nn.Module | None:
    """A frozen copy of ``module`` prepared for speed (see :class:`SearchConfig`), or ``module``
    itself when nothing is asked. ``run(m)`` evaluates a module on a sample input; it verifies
    the folded copy against the original (falling back, with a warning, if they differ)."""
    if module is None or not (fold_bn or channels_last or bf16_weights):
        return module
    try:
        m = copy.deepcopy(module)
    except Exception as e:  # noqa: BLE001 - e.g. modules holding un-copyable handles
        warnings.warn(f"cannot copy {type(module).__name__} for the fast search path ({e}); "
                      f"running it as given", stacklevel=3)
        return module
    m.eval().requires_grad_(False)
    if fold_bn and fold_batchnorm(m):
        fuse_inception_branches(m)
        if run is not None:
            with torch.no_grad():
                ok = _same_outputs(run(m), run(module))
            if not ok:
                warnings.warn(f"folding BatchNorm changed the output of {type(module).__name__}; "
                              f"searching without folding", stacklevel=3)
                m = copy.deepcopy(module).eval().requires_grad_(False)
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
    if bf16_weights:  # what autocast would cast on every call, cast once (autocast leaves fp64 alone)
        for sub in m.modules():
            if (type(sub) in _CONVS or type(sub) is nn.Linear) and sub.weight.dtype == torch.float32:
                sub.to(torch.bfloat16)
    return m


def _channels_last_inputs(prepared: PreparedInputs) -> PreparedInputs:
    """A copy of ``prepared`` with its image-shaped constants in channels-last memory format, so
    the element-wise loss arithmetic matches the networks' output layout."""
    def cl(t):
        if isinstance(t, torch.Tensor) and t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        return t

    return replace(prepared, y=cl(prepared.y), mask=cl(prepared.mask), inverse=cl(prepared.inverse),
                   states={n: {k: cl(v) for k, v in st.items()} for n, st in prepared.states.items()})


def loss_evaluator(loss: CompositeLoss, prepared: PreparedInputs, z: torch.Tensor, *,
                   generator: nn.Module, discriminator: nn.Module | None, fnet: nn.Module | None,
                   config: SearchConfig, device: torch.device):
    """The search's step function: ``z -> terms`` (unweighted) on prepared copies of the networks.

    Builds the private copies of ``generator``, ``discriminator`` and ``fnet`` that ``config``
    asks for (see the module docstring), checked against the originals on the first rows of ``z``.

    Returns:
        ``(evaluate, evaluate_eager)``: ``evaluate`` is compiled when ``config.compile``; the eager
        one serves the no-grad evaluations.
    """
    bf16 = config.precision == "bf16"
    if device.type == "cpu":  # the step's freed activations stay mapped for the next step
        keep_freed_cpu_memory()
    chunk = config.feature_chunk_for(device)
    if bf16:
        warn_if_slow_bf16(device, "precision='bf16'")
    channels_last = config.use_channels_last(device)
    opts = dict(fold_bn=config.fold_bn, channels_last=channels_last, bf16_weights=bf16)
    z_s = z.detach()[:2]
    g_s = generator(z_s).detach() if (discriminator is not None or fnet is not None) else None
    layers = loss.feature_layers
    gen = _search_copy(generator, lambda m: m(z_s), **opts)
    disc = _search_copy(discriminator, lambda m: m(g_s), **opts)
    feat = _search_copy(fnet, lambda m: m(g_s, layers), **opts)
    inputs = _channels_last_inputs(prepared) if channels_last else prepared

    def evaluate_eager(zz: torch.Tensor):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return loss.breakdown(zz, gen, disc, inputs, feature_net=feat, feature_chunk=chunk)

    if not config.compile:
        return evaluate_eager, evaluate_eager
    return torch.compile(evaluate_eager, dynamic=False), evaluate_eager
