"""The low-rank "tail" component of MORE on linear layers.

A decomposed layer computes ``y = x (W_g + B A)^T + b``: ``W_g`` (the
layer's own ``weight``) is the *general* part, ``B A`` (rank ``r``) the
*tail* part. The general weight keeps the parameter name ``weight``, so a
decomposed model loads plain checkpoints (the tail keeps its
initialisation) and a merged state dict has exactly the plain keys.

Three operations act on a whole model:

- :func:`inject_low_rank` replaces the ``nn.Linear`` layers whose names
  match regular expressions by :class:`LowRankLinear`;
- :func:`general_path` runs the model with ``W_g`` only (the ``f(x;
  theta_g)`` of MORE);
- :func:`merge_low_rank` folds ``B A`` into ``W_g`` and puts plain linear
  layers back.
"""
import math
import re
from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


def check_rank(rank: int,
               in_features: int,
               out_features: int,
               layer: str = 'layer') -> int:
    """Check a rank against a layer's shape.

    Args:
        rank (int): The rank ``r`` of ``B A``.
        in_features (int): Input size of the layer.
        out_features (int): Output size of the layer.
        layer (str): Name of the layer for the error message.

    Returns:
        int: The rank.

    Raises:
        TypeError: If ``rank`` is not an int.
        ValueError: If ``rank < 1`` or ``rank > min(out, in)``.
    """
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise TypeError(f'rank must be an int, got {type(rank).__name__} '
                        f'({rank!r}) for {layer}')
    limit = min(in_features, out_features)
    if not 1 <= rank <= limit:
        raise ValueError(
            f'rank={rank} is not allowed for {layer} (in_features='
            f'{in_features}, out_features={out_features}): the rank must be '
            f'in 1..{limit}')
    return rank


@MODELS.register_module()
class LowRankLinear(nn.Linear):
    """A linear layer with weight ``W_g + B A`` (MORE's decomposition).

    ``weight`` (``out x in``) is the general part ``W_g``; ``tail_A``
    (``r x in``, Kaiming-uniform as ``nn.Linear``) and ``tail_B``
    (``out x r``, zeros) form the tail part, so a fresh layer computes
    exactly what the plain layer computes. Set :attr:`general_only` (or use
    :func:`general_path`) to drop the tail part.

    Args:
        in_features (int): Input size.
        out_features (int): Output size.
        rank (int): Rank ``r`` of ``B A``, in ``1..min(in, out)``.
        bias (bool): Whether the layer has a bias. Defaults to True.
        device (torch.device, optional): Where to create the parameters.
        dtype (torch.dtype, optional): Type of the parameters.

    Example:
        >>> layer = LowRankLinear(8, 4, rank=2)
        >>> x = torch.randn(3, 8)
        >>> torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
        True
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 rank: int,
                 bias: bool = True,
                 device=None,
                 dtype=None) -> None:
        super().__init__(
            in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.rank = check_rank(rank, in_features, out_features,
                               type(self).__name__)
        factory = dict(device=device, dtype=dtype)
        self.tail_A = nn.Parameter(torch.empty(rank, in_features, **factory))
        self.tail_B = nn.Parameter(torch.empty(out_features, rank, **factory))
        self.general_only = False
        self.plain_type = nn.Linear
        self.reset_tail_parameters()

    @classmethod
    def from_linear(cls,
                    linear: nn.Linear,
                    rank: int,
                    name: str = 'layer') -> 'LowRankLinear':
        """Decompose an existing linear layer (its parameters are shared).

        Args:
            linear (nn.Linear): The plain layer; its ``weight`` becomes
                ``W_g`` and its bias is kept.
            rank (int): Rank ``r``.
            name (str): Name of the layer for error messages.

        Returns:
            LowRankLinear: The decomposed layer; :meth:`to_linear` gives back
            a layer of ``type(linear)``.
        """
        check_rank(rank, linear.in_features, linear.out_features, name)
        weight = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            rank,
            bias=linear.bias is not None,
            device=weight.device,
            dtype=weight.dtype)
        layer.weight = weight
        layer.bias = linear.bias
        layer.plain_type = type(linear)
        layer.train(linear.training)
        return layer

    def reset_tail_parameters(self) -> None:
        """``A`` as ``nn.Linear`` initialises weights, ``B = 0``."""
        nn.init.kaiming_uniform_(self.tail_A, a=math.sqrt(5))
        nn.init.zeros_(self.tail_B)

    def tail_delta(self) -> torch.Tensor:
        """The tail weight ``B A`` (``out x in``)."""
        return self.tail_B @ self.tail_A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if self.general_only:
            return out
        return out + F.linear(F.linear(x, self.tail_A), self.tail_B)

    @torch.no_grad()
    def to_linear(self) -> nn.Linear:
        """A plain layer with weight ``W_g + B A`` (a new module).

        Returns:
            nn.Linear: A layer of the type that was decomposed.
        """
        weight = self.weight
        plain = self.plain_type(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=weight.device,
            dtype=weight.dtype)
        merged = weight.double() + self.tail_delta().double()
        plain.weight.copy_(merged.to(weight.dtype))
        if self.bias is not None:
            plain.bias.copy_(self.bias)
        plain.train(self.training)
        return plain

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, rank={self.rank}'


def _as_patterns(patterns: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns)
    if not patterns:
        raise ValueError('target_modules is empty: give at least one regular '
                         'expression of layer names')
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f'target_modules must hold strings, got '
                            f'{type(pattern).__name__} ({pattern!r})')
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f'target_modules pattern {pattern!r} is not a '
                             f'valid regular expression: {err}') from err
    return patterns


def _no_match_error(pattern: str, model: nn.Module) -> ValueError:
    """Explain a pattern that matches no linear layer."""
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    other = [
        f'{n} ({type(m).__name__})' for n, m in model.named_modules()
        if n and re.fullmatch(pattern, n) and not isinstance(m, nn.Linear)
    ]
    hint = (f'; it matches only non-linear modules: {", ".join(other[:5])}'
            if other else '')
    return ValueError(
        f'target_modules pattern {pattern!r} matches no nn.Linear layer of '
        f'{type(model).__name__}{hint}. Patterns are matched against the '
        f'whole layer name (re.fullmatch); linear layers are e.g. '
        f'{linear[:6]}')


def find_linear_layers(model: nn.Module,
                       patterns: Union[str, Sequence[str]]) -> List[str]:
    """Names of the ``nn.Linear`` layers matched by any pattern.

    Args:
        model (nn.Module): The model.
        patterns (str | Sequence[str]): Regular expressions, each matched
            against whole module names (``re.fullmatch``), e.g.
            ``r'backbone\\.layers\\.\\d+\\.attn\\.qkv'``.

    Returns:
        list[str]: Matched names in module order.

    Raises:
        ValueError: If a pattern is invalid or matches no linear layer (the
            message names the pattern and lists layers that exist).
    """
    patterns = _as_patterns(patterns)
    linear = [(n, m) for n, m in model.named_modules()
              if isinstance(m, nn.Linear) and n]
    for pattern in patterns:
        if not any(re.fullmatch(pattern, name) for name, _ in linear):
            raise _no_match_error(pattern, model)
    return [
        name for name, _ in linear if any(
            re.fullmatch(p, name) for p in patterns)
    ]


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition('.')
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def inject_low_rank(model: nn.Module, patterns: Union[str, Sequence[str]],
                    rank: int) -> List[str]:
    """Decompose the matched linear layers of a model in place.

    Args:
        model (nn.Module): The model to change.
        patterns (str | Sequence[str]): See :func:`find_linear_layers`.
        rank (int): Rank ``r`` of every tail part.

    Returns:
        list[str]: Names of the decomposed layers.

    Raises:
        ValueError: If a pattern matches nothing, a matched layer is
            already decomposed, or the rank does not fit a layer.

    Example:
        >>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> inject_low_rank(model, [r'0'], rank=2)
        ['0']
    """
    names = find_linear_layers(model, patterns)
    for name in names:
        layer = model.get_submodule(name)
        if isinstance(layer, LowRankLinear):
            raise ValueError(f'layer {name!r} is already decomposed')
        check_rank(rank, layer.in_features, layer.out_features,
                   f'layer {name!r}')
    for name in names:
        layer = model.get_submodule(name)
        _set_submodule(model, name,
                       LowRankLinear.from_linear(layer, rank, name))
    return names


def low_rank_layers(model: nn.Module) -> Dict[str, LowRankLinear]:
    """The decomposed layers of a model, by name."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, LowRankLinear)
    }


def tail_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The ``A`` and ``B`` parameters of every decomposed layer."""
    for layer in low_rank_layers(model).values():
        yield layer.tail_A
        yield layer.tail_B


@contextmanager
def general_path(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` with the general weights ``W_g`` only.

    Example:
        >>> model = nn.Sequential(LowRankLinear(4, 2, rank=1))
        >>> with general_path(model):
        ...     general_out = model(torch.randn(3, 4))
        >>> model[0].general_only
        False
    """
    layers = list(low_rank_layers(model).values())
    previous = [layer.general_only for layer in layers]
    for layer in layers:
        layer.general_only = True
    try:
        yield model
    finally:
        for layer, flag in zip(layers, previous):
            layer.general_only = flag


def merge_low_rank(model: nn.Module) -> List[str]:
    """Fold ``B A`` into ``W_g`` and restore plain linear layers in place.

    Afterwards the model has exactly the plain architecture and parameter
    count and computes what the decomposed full path computed.

    Args:
        model (nn.Module): A model with :class:`LowRankLinear` layers.

    Returns:
        list[str]: Names of the merged layers.
    """
    names = list(low_rank_layers(model))
    for name in names:
        _set_submodule(model, name, model.get_submodule(name).to_linear())
    return names
