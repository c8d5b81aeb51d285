"""A ViT-B dry run: every ViT-B chain for 2 iterations per stage.

Runs MGP, the baselines, MORE and the whole OSDTW pipeline (with its MGP
step) of ImageNet-LT and Places-LT on a tiny **synthetic** image folder in
the official list format (``ImageNet_LT_{train,val,test}.txt`` /
``Places_LT_*.txt``, every class present in the training list, random
JPEGs) that the script writes itself, and prints each stage's time per
iteration and peak memory. It finds what a GPU-cluster user would otherwise
learn after hours in a queue: a config that does not build, a shape that
does not fit, a stage that runs out of memory. Accuracy means nothing here.

Usage::

    python tools/benchmark/vit_b_dry_run.py [--device cuda --amp]
        [--only imagenet_lt] [--only baselines] [--batch-size 2]
        [--work-dir work_dirs/vit_b_dry_run]

Each chain runs ``tools/train.py`` in a child process (cwd: the work dir,
where ``data/imagenet`` and ``data/places365`` are written) with a 2-
iteration ``IterBasedTrainLoop``, a constant lr, no validation and a
4-image Fisher subset. Time per iteration is the second iteration's
``time`` of the training log (the first one warms up); peak memory is the
child's peak resident set size on CPU (``ru_maxrss``, one figure for the
whole pipeline process) and mmengine's logged ``memory`` (peak CUDA memory
allocated, per stage) on a GPU.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCHMARKS = {
    # name: (data folder, list prefix, classes)
    'imagenet_lt': ('data/imagenet', 'ImageNet_LT', 1000),
    'places_lt': ('data/places365', 'Places_LT', 365),
}
KINDS = ('mgp', 'baselines', 'more', 'osdtw')
# Overrides that make any training config a 2-iteration run.
TWO_ITERS = [
    'train_cfg._delete_=True',
    'train_cfg.type=IterBasedTrainLoop',
    'train_cfg.max_iters=2',
    'train_cfg.val_interval=100000',
    'param_scheduler=[]',
    'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.by_epoch=False',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=1',
]
# A ViT small enough for the test suite (--tiny): every ViT-B config's
# encoder, MGP decoder and heads at 32 dims, 2 blocks.
TINY_VIT = [
    'model.backbone.arch._delete_=True',
    'model.backbone.arch.embed_dims=32',
    'model.backbone.arch.num_layers=2',
    'model.backbone.arch.num_heads=2',
    'model.backbone.arch.feedforward_channels=64',
    'model.head.in_channels=32',
]
# mmengine's training log line (epoch- or iteration-style progress).
ITER_LINE = re.compile(r'(?:Iter|Epoch)\(train\)\s+(?:\[\s*\d+\])?'
                       r'\[\s*(\d+)/\s*\d+\].*?\btime: ([\d.]+)'
                       r'(?:.*?\bmemory: (\d+))?')


def write_lt_lists(data_root: str,
                   prefix: str,
                   num_classes: int,
                   head_classes: int = 10,
                   size: int = 64,
                   seed: int = 0) -> Dict[str, int]:
    """A synthetic LT image set in the official list layout.

    Training list: 3 images of each of the first ``head_classes`` classes,
    1 of every other class (every class present, so the class counts and
    the head/tail split are defined); val and test lists: one image of each
    of the first 4 classes. Lines are ``<path relative to data_root>
    <label>``, images random ``size`` px JPEGs under ``images/<label>/``.

    Returns:
        dict: Number of lines of each split.
    """
    rng = np.random.RandomState(seed)
    counts = {}
    for split in ('train', 'val', 'test'):
        lines = []
        classes = range(num_classes) if split == 'train' else range(4)
        for label in classes:
            per_class = 3 if split == 'train' and label < head_classes else 1
            for i in range(per_class):
                rel = f'images/{label}/{split}_{i}.jpg'
                path = osp.join(data_root, rel)
                os.makedirs(osp.dirname(path), exist_ok=True)
                pixels = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path, quality=75)
                lines.append(f'{rel} {label}')
        with open(osp.join(data_root, f'{prefix}_{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[split] = len(lines)
    return counts


def chains(benchmark: str) -> List[tuple]:
    """``(kind, config)`` of every ViT-B chain of a benchmark."""
    out = []
    for kind in KINDS:
        if kind == 'osdtw':
            out.append((kind, f'configs/osdtw/{benchmark}/pipeline.py'))
            continue
        folder = osp.join(REPO, 'configs', kind, benchmark)
        for name in sorted(os.listdir(folder)):
            if name.endswith('.py'):
                out.append((kind, f'configs/{kind}/{benchmark}/{name}'))
    return out


def chain_options(kind: str, benchmark: str, batch_size: int,
                  tiny: bool) -> List[str]:
    """The ``--cfg-options`` of one chain."""
    loader = [
        f'train_dataloader.batch_size={batch_size}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
    ]
    if kind != 'mgp':
        loader += [
            f'{split}_dataloader.{key}'
            for split in ('val', 'test') for key in (
                'batch_size=2', 'num_workers=0', 'persistent_workers=False')
        ]
    tiny_opts = list(TINY_VIT) if tiny else []
    if tiny and kind == 'mgp':
        tiny_opts = tiny_opts[:5] + ['model.neck.embed_dim=32']
    if kind != 'osdtw':
        return TWO_ITERS + loader + tiny_opts
    stage = [f'train_cfg.stage_cfg_options.{o}' for o in TWO_ITERS + loader]
    mgp = [
        f'train_cfg.mgp_cfg_options.{o}'
        for o in TWO_ITERS + loader[:3] + (tiny_opts[:5] + [
            'model.neck.embed_dim=32'] if tiny else [])
    ]
    mgp_cfg = osp.join(REPO, 'configs', 'mgp', benchmark)
    mgp_name = sorted(n for n in os.listdir(mgp_cfg) if n.endswith('.py'))[0]
    return stage + mgp + [
        f'train_cfg.mgp=../../mgp/{benchmark}/{mgp_name}',
        'train_cfg.fisher.max_samples=4',
        'train_cfg.fisher.chunk_size=2',
    ]


def run_chain(config: str,
              work_dir: str,
              options: List[str],
              device: str,
              amp: bool,
              log_file: str,
              cwd: str,
              init: Optional[str] = None) -> dict:
    """Run one chain in a child process (in ``cwd``, where ``data/`` is);
    its exit code, time and peak memory."""
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    cmd = [  # --verbose: every step's iterations in the log (parse_steps)
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, config), '--work-dir', work_dir, '--verbose'
    ]
    if amp:
        cmd.append('--amp')
    if init is not None:
        cmd += ['--init-backbone', init]
    cmd += ['--cfg-options'] + options
    env = dict(os.environ, PYTHONPATH=REPO)
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    start = time.time()
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log,
            stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return dict(
        code=code,
        seconds=time.time() - start,
        max_rss_mb=usage.ru_maxrss / 1024,
        log=log_file)


def parse_steps(log_text: str) -> Dict[str, dict]:
    """Per pipeline step (``[OSDTW] <step>: running`` sections; ``train``
    for a single config): the last iteration's time and the peak logged
    CUDA memory."""
    sections = re.split(r'\[OSDTW\] (\w+): running', log_text)
    named = [('train', sections[0])] + list(zip(sections[1::2],
                                                 sections[2::2]))
    out = {}
    for step, text in named:
        iters = ITER_LINE.findall(text)
        if not iters:
            continue
        memory = [int(m) for _, _, m in iters if m]
        out[step] = dict(
            iters=len(iters),
            sec_per_iter=float(iters[-1][1]),
            cuda_mb=max(memory) if memory else None)
    return out


def step_seconds(work_dir: str) -> Dict[str, float]:
    """The pipeline ledger's seconds per step (Fisher passes included)."""
    out = {}
    for step in sorted(os.listdir(work_dir)) if osp.isdir(work_dir) else []:
        done = osp.join(work_dir, step, 'done.json')
        if osp.isfile(done):
            with open(done) as f:
                out[step] = json.load(f)['seconds']
    return out


def format_rows(rows: List[dict], device: str) -> str:
    """The result table (markdown)."""
    mem = 'peak CUDA MB' if device == 'cuda' else 'peak RSS MB (process)'
    lines = [
        f'| chain | stage | s/iter | step s | {mem} | exit |',
        '|---|---|---|---|---|---|',
    ]
    for row in rows:
        memory = row['cuda_mb'] if device == 'cuda' else row['max_rss_mb']
        memory = '' if memory is None else f'{memory:,.0f}'
        per_iter = '' if row['sec_per_iter'] is None else \
            f'{row["sec_per_iter"]:.2f}'
        step_s = '' if row['step_s'] is None else f'{row["step_s"]:.1f}'
        lines.append(f'| {row["chain"]} | {row["stage"]} | {per_iter} | '
                     f'{step_s} | {memory} | {row["code"]} |')
    return '\n'.join(lines)


def dry_run(work_dir: str,
            benchmarks=tuple(BENCHMARKS),
            kinds=KINDS,
            only: Optional[str] = None,
            batch_size: int = 2,
            device: str = 'cpu',
            amp: bool = False,
            tiny: bool = False) -> List[dict]:
    """Write the data, run the chains, return one row per stage."""
    work_dir = osp.abspath(work_dir)
    rows = []
    for benchmark in benchmarks:
        folder, prefix, num_classes = BENCHMARKS[benchmark]
        data_root = osp.join(work_dir, folder)
        if not osp.isfile(osp.join(data_root, f'{prefix}_test.txt')):
            write_lt_lists(data_root, prefix, num_classes)
        init = None  # the MGP chain's checkpoint, for the fine-tunings
        for kind, config in chains(benchmark):
            wanted = kind in kinds and (not only or only in config)
            if kind != 'mgp' and not wanted:
                continue  # MGP always runs: the others start from it
            name = osp.splitext(config[len('configs/'):])[0]
            run_dir = osp.join(work_dir, 'runs', name.replace('/', '__'))
            result = run_chain(
                config, run_dir,
                chain_options(kind, benchmark, batch_size, tiny), device,
                amp, run_dir + '.log', work_dir,
                init if kind in ('baselines', 'more') else None)
            if kind == 'mgp':
                init = osp.join(run_dir, 'iter_2.pth')
            with open(result['log']) as f:
                steps = parse_steps(f.read())
            seconds = step_seconds(run_dir) if kind == 'osdtw' else {}
            names = list(dict.fromkeys(list(steps) + list(seconds)))
            for stage in names or ['train']:
                info = steps.get(stage, {})
                rows.append(
                    dict(
                        chain=name,
                        stage=stage,
                        sec_per_iter=info.get('sec_per_iter'),
                        step_s=seconds.get(stage, result['seconds']
                                           if kind != 'osdtw' else None),
                        cuda_mb=info.get('cuda_mb'),
                        max_rss_mb=result['max_rss_mb'],
                        code=result['code']))
            status = 'ok' if result['code'] == 0 else \
                f'FAILED ({result["log"]})'
            print(f'{name}: {result["seconds"]:.0f} s, {status}', flush=True)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/vit_b_dry_run')
    parser.add_argument(
        '--benchmark', action='append', choices=list(BENCHMARKS),
        help='only these benchmarks (default: both)')
    parser.add_argument(
        '--kind', action='append', choices=list(KINDS),
        help='only these chains (default: all)')
    parser.add_argument('--only', help='only configs whose path has this')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument(
        '--tiny', action='store_true',
        help='a 32-dim, 2-block ViT instead of ViT-B (for tests)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    rows = dry_run(args.work_dir, tuple(args.benchmark or BENCHMARKS),
                   tuple(args.kind or KINDS), args.only, args.batch_size,
                   args.device, args.amp, args.tiny)
    print(format_rows(rows, args.device))
    print(f'total: {time.time() - start:.0f} s')
    return 0 if all(r['code'] == 0 for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
