"""Join trained classifiers' checkpoints into one ``ScoreEnsemble`` checkpoint.

Usage::

    python tools/ensemble_checkpoints.py SEED0.pth SEED1.pth --out ens.pth
    python tools/test.py ENSEMBLE_CONFIG ens.pth

``ENSEMBLE_CONFIG`` is a config whose model is a ``ScoreEnsemble`` with one
member per checkpoint, in the same order, e.g. for two seeds of a recipe::

    _base_ = './vit-d96-p8_la-ce.py'
    model = dict(_delete_=True, type='ScoreEnsemble',
                 members=[{{_base_.model}}, {{_base_.model}}])

The ensemble averages its members' class scores (``pred_score``); see
``mmpretrain_osdtw/models/classifiers/ensemble.py``.
"""
import argparse
import os.path as osp
import sys

from tool_cli import add_trust_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Join member checkpoints into one ScoreEnsemble '
        'checkpoint (member i gets the i-th checkpoint)')
    parser.add_argument('checkpoints', nargs='+', help='two or more '
                        'trained checkpoints')
    parser.add_argument('--out', required=True, help='the ensemble .pth')
    add_trust_checkpoint(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        for path in args.checkpoints:
            if not osp.isfile(path):
                raise FileNotFoundError(f'checkpoint {path!r} does not exist')
        from mmpretrain_osdtw.models.classifiers import ensemble_checkpoint
        from mmpretrain_osdtw.utils import trust_checkpoints
        trust_checkpoints(args.trust_checkpoint)
        out = ensemble_checkpoint(args.checkpoints, args.out)
        print(f'ensemble of {len(args.checkpoints)}: {out}')
    except (FileNotFoundError, KeyError, ValueError) as err:  # InputError too
        print(f'error: {err.args[0] if isinstance(err, KeyError) else err}',
              file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
