"""OSDTW stage 3 by hand: assemble the two-branch model from checkpoints.

Usage::

    python tools/osdtw_assemble.py configs/osdtw/<dataset>/stage3_assemble.py \
        --stage1-head HEAD.pth --stage1-tail TAIL.pth [--stage2 JOINT.pth] \
        (--search search.json | --shared-depth C --head-weight W) \
        --out assembled.pth [--cfg-options k=v ...]

Writes ``assembled.pth`` and ``assembled_config.py`` beside it; evaluate with
``python tools/test.py assembled_config.py assembled.pth``.
"""
import argparse
import json
import os.path as osp
import sys

from tool_cli import add_trust_checkpoint

from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Assemble the OSDTW model from stage checkpoints')
    parser.add_argument('config', help='stage-3 assembly config')
    parser.add_argument('--stage1-head', required=True, help='stage-1 head')
    parser.add_argument('--stage1-tail', required=True, help='stage-1 tail')
    parser.add_argument('--stage2', help='stage-2 checkpoint (C > 0)')
    parser.add_argument('--search', help='search.json giving C and w_A')
    parser.add_argument('--shared-depth', type=int, help='C')
    parser.add_argument('--head-weight', type=float, help='w_A')
    parser.add_argument('--out', required=True, help='output checkpoint')
    add_trust_checkpoint(parser)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. '
        'model.backbone.init_cfg.checkpoint=mgp.pth')
    return parser.parse_args()


def chosen_setting(args) -> tuple:
    """``(C, w_A)`` from --search, overridden by explicit flags."""
    depth, weight = args.shared_depth, args.head_weight
    if args.search is not None:
        if not osp.isfile(args.search):
            raise FileNotFoundError(f'{args.search!r} does not exist')
        with open(args.search, encoding='utf-8') as f:
            chosen = json.load(f).get('chosen')
        if not isinstance(chosen, dict) or not {'C', 'w_A'} <= set(chosen):
            raise KeyError(f'{args.search!r} has no "chosen" C and w_A')
        depth = chosen['C'] if depth is None else depth
        weight = chosen['w_A'] if weight is None else weight
    if depth is None or weight is None:
        raise KeyError('give --search or both --shared-depth and '
                       '--head-weight')
    return depth, weight


def main() -> int:
    args = parse_args()
    try:
        for flag in ('stage1_head', 'stage1_tail', 'stage2'):
            path = getattr(args, flag)
            if path is not None and not osp.isfile(path):
                raise FileNotFoundError(
                    f'--{flag.replace("_", "-")} {path!r} does not exist')
        depth, weight = chosen_setting(args)
        import mmpretrain_osdtw  # noqa: F401
        from mmpretrain_osdtw.apis import load_config
        from mmpretrain_osdtw.osdtw.assemble import assemble_from_config
        from mmpretrain_osdtw.utils import trust_checkpoints
        trust_checkpoints(args.trust_checkpoint)
        out_config = osp.splitext(args.out)[0] + '_config.py'
        cfg = load_config(args.config)
        if args.cfg_options is not None:
            cfg.merge_from_dict(args.cfg_options)
        assemble_from_config(
            cfg,
            dict(head=args.stage1_head, tail=args.stage1_tail), args.stage2,
            depth, weight, args.out, out_config)
    except (FileNotFoundError, KeyError, ValueError, TypeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'assembled C={depth}, w_A={weight}: {args.out} '
          f'(config {out_config})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
