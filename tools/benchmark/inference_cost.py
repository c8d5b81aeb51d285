"""Inference cost of classifiers: parameters, GFLOPs and ms per image.

The columns a long-tailed results table needs beside top-1, so that every
comparison is made at equal inference cost (issue 18). From the
repository root::

    python -m tools.benchmark.inference_cost CONFIG [CKPT] \\
        [--cfg-options KEY=VALUE ...] [--shared-depths C ...] \\
        [--reference CONFIG [CKPT]] [--ensemble CONFIG [CKPT] ...] \\
        [--batch-sizes 1 128] [--repeats N] [--warmup N] \\
        [--input-size H [W]] [--device cpu] [--json OUT]

Rows, measured in one run: the ``--reference`` model (the ratio columns
divide by it; else by the first row), the model of ``CONFIG`` (one row per
``--shared-depths`` value of a ``DualDecoderClassifier`` config) and the
ensemble of the ``--ensemble`` members. Weights do not change the cost: a
checkpoint is optional (checked to match the config when given).

- Parameters: of the whole model (the sum over an ensemble's members).
- GFLOPs per image: mmengine's ``FlopAnalyzer`` on the ``tensor`` forward
  (backbone, neck, head; not the data preprocessor) of one image, in its
  convention (one multiply-add is one FLOP, as MMPretrain's model zoo
  reports), with a handle for ``aten::scaled_dot_product_attention``,
  which mmengine does not count (``Q K^T`` and the product with ``V``).
  Element-wise operations (softmax, GELU, additions) are not counted: the
  result lists them under ``uncounted_ops``.
- ms per image: the median over ``--repeats`` of the wall time of the
  ``tensor`` forward of a batch of random inputs under
  ``torch.inference_mode()``, divided by the batch size, after
  ``--warmup`` calls; the rows take turns in every repeat, so that a
  change of load touches all of them alike. An ensemble runs its members
  one after another on the same batch (the averaging of their
  probabilities is not timed). Threads are torch's (``OMP_NUM_THREADS``,
  printed with the machine).
"""
import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import DictAction
from mmengine.runner import load_checkpoint
from torch import nn

from tools.benchmark.common.timing import interleaved, machine_info


@dataclass
class CostRow:
    """One row of the cost table: a model, or the members of an ensemble
    that run one after another on the same batch.

    Args:
        name (str): The row's label.
        models (list[nn.Module]): The model(s), in eval mode.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of one image.
        sources (list[str]): ``'CONFIG [CKPT]'`` of each model.
    """

    name: str
    models: List[nn.Module]
    input_shape: Tuple[int, int, int]
    sources: List[str] = field(default_factory=list)


def load_classifier(
    config: str,
    checkpoint: Optional[str] = None,
    cfg_options: Optional[dict] = None,
    input_size: Optional[Sequence[int]] = None
) -> Tuple[nn.Module, Tuple[int, int, int]]:
    """Build the classifier of a config (and load its checkpoint).

    Without a checkpoint the weights are the modules' construction-time
    values (``init_weights`` is not called, so no pretrained file is
    read). Logit-adjusted heads without training counts get placeholder
    counts (``K, K-1, ..., 1``), which fix their classes but not their cost.

    Args:
        config (str): An MMPretrain config file.
        checkpoint (str, optional): Its checkpoint, loaded strictly.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.
        input_size (Sequence[int], optional): ``(H, W)`` of the input;
            default: read from the config (:func:`input_shape`).

    Returns:
        tuple: The model in eval mode on the CPU, and ``(C, H, W)`` of its
        input (:func:`input_shape`).
    """
    from mmpretrain_osdtw.apis import build_model, load_config
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_model(cfg)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    for module in model.modules():
        if getattr(module, 'counts_are_set', True) is False:
            module.set_class_counts(list(range(module.num_classes, 0, -1)))
    if input_size is not None:
        return model.eval(), (3, int(input_size[0]), int(input_size[-1]))
    return model.eval(), input_shape(cfg)


def input_shape(cfg) -> Tuple[int, int, int]:
    """``(3, H, W)`` of a config's model input: the backbone's
    ``img_size`` (``(H, W)``), else the last ``crop_size`` or ``scale``
    (``(W, H)``, as mmcv gives them) of the test dataset's pipeline.

    Raises:
        ValueError: If neither is in the config (give ``--input-size``).
    """
    size = cfg.model.get('backbone', {}).get('img_size')
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        return 3, int(height), int(width)
    steps = cfg.get('test_dataloader', {}).get('dataset',
                                               {}).get('pipeline', [])
    for step in steps:
        size = step.get('crop_size', step.get('scale', size))
    if size is None:
        raise ValueError('no input size in the config (model.backbone.'
                         'img_size or a test pipeline crop_size/scale): '
                         'give --input-size H [W]')
    width, height = (size, size) if isinstance(size, int) else size
    return 3, int(height), int(width)


def attention_flops(query: Sequence[int], key: Sequence[int],
                    value: Sequence[int]) -> int:
    """Multiply-adds of ``scaled_dot_product_attention`` from the shapes of
    its query ``(..., L, E)``, key ``(..., S, E)`` and value
    ``(..., S, Ev)``: ``Q K^T`` and the product of the attention with ``V``.

    Example:
        >>> attention_flops([2, 4, 17, 16], [2, 4, 17, 16], [2, 4, 17, 16])
        73984
    """
    batch = 1
    for dim in query[:-2]:
        batch *= dim
    return batch * query[-2] * key[-2] * (query[-1] + value[-1])


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """The ``FlopAnalyzer`` handle of ``aten::scaled_dot_product_attention``
    (:func:`attention_flops` of its first three inputs)."""
    return attention_flops(*(get_shape(v) for v in inputs[:3]))


def count_flops(model: nn.Module,
                shape: Tuple[int, int, int]) -> Tuple[int, Dict[str, int]]:
    """FLOPs (multiply-adds) of one image through the ``tensor`` forward,
    and the operators left uncounted with their number of calls."""
    analyzer = FlopAnalyzer(model, (torch.zeros(1, *shape), ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total()), dict(analyzer.unsupported_ops())


def time_rows(rows: Sequence[CostRow],
              batch_size: int,
              repeats: int,
              warmup: int = 1,
              device: str = 'cpu') -> Dict[str, float]:
    """Median ms per image of each row at one batch size, rows in turn.

    Args:
        rows (Sequence[CostRow]): The rows, models already on ``device``.
        batch_size (int): Images per forward.
        repeats (int): Timed forwards of each row.
        warmup (int): Untimed forwards of each row first.
        device (str): Where the models are (CUDA work is waited for).

    Returns:
        dict: ``{row name: ms per image}``.
    """
    gen = torch.Generator().manual_seed(0)
    fns = {}
    for row in rows:
        inputs = torch.randn(batch_size, *row.input_shape, generator=gen)
        fns[row.name] = _forward_all(row.models, inputs.to(device))
    sync = torch.cuda.synchronize if 'cuda' in str(device) else None
    with torch.inference_mode():
        seconds = interleaved(fns, repeats, warmup, sync=sync)
    return {name: 1000.0 * s / batch_size for name, s in seconds.items()}


def _forward_all(models: Sequence[nn.Module], inputs: torch.Tensor):
    """A call running every model's ``tensor`` forward on ``inputs``."""

    def run() -> None:
        for model in models:
            model(inputs, mode='tensor')

    return run


def measure_rows(rows: Sequence[CostRow],
                 batch_sizes: Sequence[int] = (1, 128),
                 repeats: int = 10,
                 warmup: int = 2,
                 device: str = 'cpu') -> dict:
    """Parameters, GFLOPs and ms per image of every row, in one run.

    Args:
        rows (Sequence[CostRow]): The rows (models on the CPU); the ratios
            divide by the first.
        batch_sizes (Sequence[int]): Batch sizes to time.
        repeats (int): Timed forwards per row and batch size.
        warmup (int): Untimed forwards per row and batch size first.
        device (str): ``'cpu'``, ``'cuda'``, ...

    Returns:
        dict: ``rows`` (each with ``params``, ``gflops`` per image,
        ``ms_per_image`` per batch size, ``uncounted_ops`` and the same
        three as ``ratio`` to the first row), ``threads``,
        ``omp_num_threads``, ``device``, ``torch``, ``machine``,
        ``batch_sizes``, ``repeats``, ``warmup``.
    """
    if len({row.name for row in rows}) != len(rows):
        raise ValueError('row names must be unique')
    out = []
    for row in rows:
        flops = [count_flops(model, row.input_shape) for model in row.models]
        uncounted = sum((Counter(ops) for _, ops in flops), Counter())
        out.append(
            dict(
                name=row.name,
                sources=list(row.sources),
                params=sum(p.numel() for m in row.models
                           for p in m.parameters()),
                gflops=sum(f for f, _ in flops) / 1e9,
                uncounted_ops=dict(sorted(uncounted.items())),
                ms_per_image={}))
        for model in row.models:
            model.to(device)
    for batch_size in batch_sizes:
        times = time_rows(rows, batch_size, repeats, warmup, device)
        for res in out:
            res['ms_per_image'][str(batch_size)] = times[res['name']]
    for res in out:
        res['ratio'] = _ratios(res, out[0])
    threads = torch.get_num_threads()
    return dict(
        rows=out,
        threads=threads,
        omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
        device=str(device),
        torch=torch.__version__,
        machine=machine_info(threads, torch.device(device)),
        batch_sizes=list(batch_sizes),
        repeats=repeats,
        warmup=warmup)


def _ratios(res: dict, ref: dict) -> dict:
    """``res``'s parameters, GFLOPs and ms per image over ``ref``'s."""
    return dict(
        params=res['params'] / ref['params'],
        gflops=res['gflops'] / ref['gflops'],
        ms_per_image={
            bs: ms / ref['ms_per_image'][bs]
            for bs, ms in res['ms_per_image'].items()
        })


def format_table(result: dict) -> str:
    """The rows of :func:`measure_rows` as a Markdown table (ratios to the
    first row in parentheses)."""
    sizes = [str(bs) for bs in result['batch_sizes']]
    head = ['model', 'params', 'GFLOPs/img'
            ] + [f'ms/img @ {bs}' for bs in sizes]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for res in result['rows']:
        ratio = res['ratio']
        cells = [
            res['name'], f"{res['params']:,} ({ratio['params']:.3f}x)",
            f"{res['gflops']:.4g} ({ratio['gflops']:.3f}x)"
        ] + [
            f"{res['ms_per_image'][bs]:.4g} "
            f"({ratio['ms_per_image'][bs]:.2f}x)" for bs in sizes
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def split_specs(values: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
    """``CONFIG [CKPT] CONFIG [CKPT] ...`` as ``(config, checkpoint)``
    pairs: a value ending in ``.py`` starts a model.

    Example:
        >>> split_specs(['a.py', 'a.pth', 'b.py'])
        [('a.py', 'a.pth'), ('b.py', None)]
    """
    specs = []
    for value in values:
        if value.endswith('.py'):
            specs.append((value, None))
        elif specs and specs[-1][1] is None:
            specs[-1] = (specs[-1][0], value)
        else:
            raise ValueError(f'{value!r}: a checkpoint must follow its '
                             'config (CONFIG [CKPT] ...)')
    return specs


def build_rows(args: argparse.Namespace) -> List[CostRow]:
    """The rows the command line asks for (models on the CPU)."""
    rows = []
    options = dict(args.cfg_options or {})
    if args.reference:
        specs = split_specs(args.reference)
        if len(specs) != 1:
            raise ValueError('--reference takes one CONFIG [CKPT]')
        config, ckpt = specs[0]
        rows.append(_row('reference', [(config, ckpt, options)], args))
    if args.shared_depths and args.checkpoint:
        raise ValueError('--shared-depths builds the model at other depths '
                         'than its checkpoint: leave the checkpoint out')
    for depth in args.shared_depths or [None]:
        name, opts = 'model', options
        if depth is not None:
            name, opts = f'model C={depth}', dict(
                options, **{'model.shared_depth': depth})
        rows.append(_row(name, [(args.config, args.checkpoint, opts)], args))
    if args.ensemble:
        members = [(c, k, options) for c, k in split_specs(args.ensemble)]
        rows.append(_row(f'ensemble of {len(members)}', members, args))
    return rows


def _row(name: str, specs: Sequence[tuple],
         args: argparse.Namespace) -> CostRow:
    """A row of the models ``(config, checkpoint, cfg_options)``."""
    models, shapes, sources = [], set(), []
    for config, ckpt, options in specs:
        model, shape = load_classifier(config, ckpt, options, args.input_size)
        models.append(model)
        shapes.add(shape)
        sources.append(' '.join(filter(None, (config, ckpt))))
    if len(shapes) != 1:
        raise ValueError(f'{name}: the members take different input '
                         f'shapes {sorted(shapes)}')
    return CostRow(name, models, shapes.pop(), sources)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.benchmark.inference_cost',
        description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the model')
    parser.add_argument('checkpoint', nargs='?', help='its checkpoint')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides of every config of the run (KEY=VALUE): the '
        'model, the reference and the ensemble members (one regime, e.g. '
        'the ViT\'s patch size and width)')
    parser.add_argument(
        '--shared-depths',
        nargs='+',
        type=int,
        help='one row per shared depth C (model.shared_depth)')
    parser.add_argument(
        '--reference',
        nargs='+',
        metavar='CONFIG [CKPT]',
        help='a model to divide by (the first row)')
    parser.add_argument(
        '--ensemble',
        nargs='+',
        action='extend',
        metavar='CONFIG [CKPT]',
        help='the members of an ensemble row (repeat the flag or list them)')
    parser.add_argument('--batch-sizes', nargs='+', type=int, default=[1, 128])
    parser.add_argument(
        '--repeats', type=int, default=10, help='timed forwards (median)')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed forwards first')
    parser.add_argument(
        '--input-size',
        nargs='+',
        type=int,
        metavar='H [W]',
        help='input height and width (default: from each config)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, ...')
    parser.add_argument('--json', help='also write the result here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    import mmpretrain_osdtw  # noqa: F401  (registers the components)
    args = parse_args(argv)
    result = measure_rows(
        build_rows(args), args.batch_sizes, args.repeats, args.warmup,
        args.device)
    print(result['machine'])
    print(f"OMP_NUM_THREADS={result['omp_num_threads']}, torch threads "
          f"{result['threads']}, device {result['device']}; ms: median of "
          f'{args.repeats} after {args.warmup} warm-up; GFLOPs: multiply-'
          'adds; ratios to the first row in parentheses')
    print(format_table(result))
    for res in result['rows']:
        print(f"{res['name']}: {' + '.join(res['sources'])}; not counted "
              f"(element-wise): {res['uncounted_ops']}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
