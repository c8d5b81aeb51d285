"""Search the OSDTW shared depth ``C`` and head weight ``w_A``.

Reads the stage-1 statistics (``fisher_head.pth``, ``fisher_tail.pth`` and
optionally ``fisher_cross.pth``; format in
:mod:`mmpretrain_osdtw.osdtw.fisher`), evaluates the proxy on the
``(C, w_A)`` grid and writes ``search.json`` and ``proxy_heatmap.png`` to
``--out-dir``.

Example::

    python tools/osdtw_search.py work_dirs/s1/fisher_head.pth \\
        work_dirs/s1/fisher_tail.pth --cross work_dirs/s1/fisher_cross.pth \\
        --out-dir work_dirs/search
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='OSDTW proxy search over the shared depth C and the '
        'head-task weight w_A')
    parser.add_argument('head_stats', help='stage-1 fisher_head.pth')
    parser.add_argument('tail_stats', help='stage-1 fisher_tail.pth')
    parser.add_argument(
        '--cross',
        default=None,
        help='stage-1 fisher_cross.pth (cross-task term k; 0 without it)')
    parser.add_argument(
        '--out-dir',
        required=True,
        help='folder for search.json and proxy_heatmap.png')
    parser.add_argument(
        '--w-step',
        type=float,
        default=0.01,
        help='spacing of the w_A grid (default 0.01)')
    parser.add_argument(
        '--w-min', type=float, default=0.0, help='smallest w_A (default 0)')
    parser.add_argument(
        '--w-max', type=float, default=1.0, help='largest w_A (default 1)')
    parser.add_argument(
        '--variant',
        choices=('full', 'paper'),
        default='full',
        help='full: sandwich form with v, h, k (default); paper: v = h, '
        'k = 0 (always gives w_A = 0.5)')
    parser.add_argument(
        '--mismatch',
        choices=('debiased', 'debiased-positive', 'raw'),
        default='debiased',
        help='debiased: delta^2 minus its stage-1 noise (default); '
        'debiased-positive: the same with each layer\'s bias floored at 0; '
        'raw: delta^2')
    parser.add_argument(
        '--noise-scale',
        choices=('asymptotic', 'sgd'),
        default='asymptotic',
        help='asymptotic: the 1/N of the formulas (default); sgd: N '
        'calibrated on the SGD noise of two stage-1 seeds, which the files '
        'must carry (tools/osdtw_sgd_noise.py)')
    return parser.parse_args(argv)


def format_table(result: dict) -> str:
    """A small table: per depth ``C`` the best ``w_A`` and its proxy."""
    grid = result['grid']
    lines = [
        f"{'C':>3}  {'best w_A':>8}  {'proxy':>12}  {'enc_var':>12}  "
        f"{'enc_bias':>12}  {'dec_var':>12}"
    ]
    for row in result['per_depth']:
        c = row['C']
        i = result['w_grid'].index(row['w_A'])
        mark = '  <- chosen' if c == result['chosen']['C'] else ''
        lines.append(f"{c:>3}  {row['w_A']:>8.3f}  {row['proxy']:>12.6g}  "
                     f"{grid['enc_var'][c][i]:>12.6g}  "
                     f"{grid['enc_bias'][c][i]:>12.6g}  "
                     f"{grid['dec_var'][c][i]:>12.6g}{mark}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the search; return the exit code (2 on bad input)."""
    args = parse_args(argv)
    # Fail fast (before the slow imports) on missing inputs.
    for label, path in (('head statistics', args.head_stats),
                        ('tail statistics',
                         args.tail_stats), ('cross statistics', args.cross)):
        if path is not None and not osp.isfile(path):
            print(
                f'osdtw_search: error: {label} file {path!r} does not '
                'exist',
                file=sys.stderr)
            return 2
    from mmpretrain_osdtw.osdtw.search import (plot_heatmap, run_search,
                                               save_search_json)
    try:
        result = run_search(
            args.head_stats,
            args.tail_stats,
            args.cross,
            w_step=args.w_step,
            w_min=args.w_min,
            w_max=args.w_max,
            variant=args.variant,
            mismatch=args.mismatch,
            noise_scale=args.noise_scale)
        json_path = osp.join(args.out_dir, 'search.json')
        png_path = osp.join(args.out_dir, 'proxy_heatmap.png')
        save_search_json(result, json_path)
        plot_heatmap(result, png_path)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f'osdtw_search: error: {err}', file=sys.stderr)
        return 2
    chosen = result['chosen']
    print(f"chosen: C={chosen['C']}  w_A={chosen['w_A']:g}  "
          f"(w_B={chosen['w_B']:g}, proxy={chosen['proxy']:.6g}; "
          f"variant={result['variant']}, mismatch={result['mismatch']}, "
          f"N={result['N']:g}, L={result['L']}, "
          f"noise scale {result['noise_scale']})")
    print(format_table(result))
    print(f'wrote {json_path} and {png_path} '
          f"(proxy {result['timings']['proxy_s']:.2f} s)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
