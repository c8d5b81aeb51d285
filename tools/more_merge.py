"""Fold MORE's low-rank tail into the weights of any MORE checkpoint.

Training with ``MOREScheduleHook`` already writes ``<work_dir>/merged.pth``
at the end; use this tool for any other checkpoint (e.g. ``epoch_10.pth``
or ``best_*.pth``)::

    python tools/more_merge.py CKPT OUT [--config PLAIN_CONFIG] \
        [--trust-checkpoint]

Every ``<layer>.weight`` becomes ``W_g + B A`` and the ``tail_A`` /
``tail_B`` keys are dropped, so ``OUT`` has exactly the plain model's keys.
With ``--config`` (the plain baseline config), the merged weights are
loaded strictly into the model that config builds, to prove they fit.
Evaluate ``OUT`` with ``tools/test.py PLAIN_CONFIG OUT``.
"""
import argparse
import sys
from typing import List, Optional

from tool_cli import add_trust_checkpoint

import mmpretrain_osdtw  # noqa: F401  (registers components, stack fixes)
from mmpretrain_osdtw.apis import build_model, load_config
from mmpretrain_osdtw.models.more import merge_checkpoint_file
from mmpretrain_osdtw.utils import load_checkpoint_file, trust_checkpoints


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Merge a MORE checkpoint into a plain one')
    parser.add_argument('checkpoint', help='MORE checkpoint (.pth)')
    parser.add_argument('out', help='where to write the merged checkpoint')
    parser.add_argument(
        '--config',
        help='plain baseline config: load the merged weights strictly into '
        'its model as a check')
    add_trust_checkpoint(parser)
    return parser.parse_args(argv)


def check_against_config(config: str, merged_path: str) -> int:
    """Strictly load the merged weights into the config's model.

    Args:
        config (str): A plain (non-MORE) config.
        merged_path (str): The merged checkpoint.

    Returns:
        int: The number of parameters of the plain model.
    """
    cfg = load_config(config)
    if cfg.model.get('type') == 'MOREClassifier':
        raise ValueError(f'{config} builds a MOREClassifier: give the plain '
                         'baseline config of the same model')
    model = build_model(cfg)
    state = load_checkpoint_file(merged_path, map_location='cpu')
    try:
        model.load_state_dict(state['state_dict'], strict=True)
    except RuntimeError as err:
        raise RuntimeError(f'the merged weights do not fit the model of '
                           f'{config}: {err}') from err
    return sum(p.numel() for p in model.parameters())


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    trust_checkpoints(args.trust_checkpoint)
    try:
        layers = merge_checkpoint_file(args.checkpoint, args.out)
        print(f'merged {len(layers)} layers into {args.out}')
        if args.config:
            count = check_against_config(args.config, args.out)
            print(f'{args.out} loads strictly into the model of '
                  f'{args.config} ({count} parameters)')
    except (FileNotFoundError, KeyError, ValueError, RuntimeError, SyntaxError,
            TypeError, ImportError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
