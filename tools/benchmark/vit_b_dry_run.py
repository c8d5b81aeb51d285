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
iteration ``IterBasedTrainLoop``, a constant lr, no validation and an
8-image Fisher subset (one chunk of the configs' ``chunk_size``). Time per
iteration is the last (second) iteration's ``time`` in the stage's
``vis_data/scalars.json`` (the first one warms up). Peak memory is per
stage: for a single config the child's peak resident set size
(``ru_maxrss``) and mmengine's logged CUDA ``memory``; for a pipeline step
the ``peak_memory_mb`` its ``done.json`` records (the resident set's
high-water mark reset when the step starts, and the peak CUDA memory torch
allocated), so the Fisher passes and the search have their own rows.
"""
import argparse
import glob
import json
import os
import os.path as osp
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
#: Images per Fisher pass: one ``vmap`` chunk at the ViT-B pipelines'
#: ``fisher.chunk_size`` (8), so the pass's peak memory is a real run's.
FISHER_SAMPLES = 8
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
# encoder and heads at 32 dims, 2 blocks.
TINY_VIT = [
    'model.backbone.arch._delete_=True',
    'model.backbone.arch.embed_dims=32',
    'model.backbone.arch.num_layers=2',
    'model.backbone.arch.num_heads=2',
    'model.backbone.arch.feedforward_channels=64',
    'model.head.in_channels=32',
]
# The MGP model at the same size: the tiny encoder and a 1-block, 32-dim
# decoder (MAEPretrainDecoder's own arguments).
TINY_MGP = TINY_VIT[:5] + [
    'model.neck.embed_dim=32',
    'model.neck.decoder_embed_dim=32',
    'model.neck.decoder_depth=1',
    'model.neck.decoder_num_heads=2',
]
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
    mgp_tiny = TINY_MGP if tiny else []
    if kind != 'osdtw':
        return TWO_ITERS + loader + (mgp_tiny if kind == 'mgp' else tiny_opts)
    stage = [
        f'train_cfg.stage_cfg_options.{o}'
        for o in TWO_ITERS + loader + tiny_opts
    ]
    mgp = [
        f'train_cfg.mgp_cfg_options.{o}'
        for o in TWO_ITERS + loader[:3] + mgp_tiny
    ]
    mgp_cfg = osp.join(REPO, 'configs', 'mgp', benchmark)
    mgp_name = sorted(n for n in os.listdir(mgp_cfg) if n.endswith('.py'))[0]
    # The derivation's noise scale (the configs' default trains each
    # stage-1 config a second time, the same cost as its stage-1 row, and
    # on 2 iterations of synthetic images may share nothing: C = 0 skips
    # stage 2, which the dry run is here to size).
    return stage + mgp + [
        f'train_cfg.mgp=../../mgp/{benchmark}/{mgp_name}',
        f'train_cfg.fisher.max_samples={FISHER_SAMPLES}',
        "train_cfg.noise_scale='asymptotic'",
        "train_cfg.search.mismatch='debiased-positive'",
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
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, config), '--work-dir', work_dir
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


def logged_iterations(folder: str) -> dict:
    """The training iterations a run in ``folder`` logged (its newest
    ``<timestamp>/vis_data/scalars.json``): how many, the last one's
    ``time`` (s) and the peak of mmengine's ``memory`` (MB of CUDA memory,
    logged on a GPU only)."""
    logs = sorted(glob.glob(osp.join(folder, '*', 'vis_data', 'scalars.json')))
    records = []
    if logs:
        with open(logs[-1]) as f:
            records = [json.loads(line) for line in f if line.strip()]
    train = [r for r in records if 'loss' in r and 'time' in r]
    memory = [r['memory'] for r in train if 'memory' in r]
    return dict(
        iters=len(train),
        sec_per_iter=train[-1]['time'] if train else None,
        cuda_mb=max(memory) if memory else None)


def pipeline_steps(work_dir: str) -> Dict[str, dict]:
    """Per finished pipeline step, in the order the steps finished: its
    seconds and peak memory (the ledger's ``done.json``, Fisher passes and
    the search included) and its logged training iterations."""
    out = {}
    for done_file in glob.glob(osp.join(work_dir, '*', 'done.json')):
        with open(done_file) as f:
            done = json.load(f)
        step_dir = osp.dirname(done_file)
        memory = done.get('peak_memory_mb') or {}
        logged = logged_iterations(step_dir)
        out[osp.basename(step_dir)] = dict(
            finished=done.get('finished', ''),
            step_s=done['seconds'],
            sec_per_iter=logged['sec_per_iter'],
            rss_mb=memory.get('rss'),
            # mmengine resets the CUDA peak at every logged iteration, so
            # the step's peak is the larger of the two figures.
            cuda_mb=max((m for m in (memory.get('cuda'), logged['cuda_mb'])
                         if m is not None), default=None))
    return dict(sorted(out.items(), key=lambda item: item[1]['finished']))


def format_rows(rows: List[dict]) -> str:
    """The result table (markdown)."""
    lines = [
        '| chain | stage | s/iter | step s | peak RSS MB | peak CUDA MB | '
        'exit |',
        '|---|---|---|---|---|---|---|',
    ]

    def cell(value, fmt):
        return '' if value is None else format(value, fmt)

    for row in rows:
        lines.append(f'| {row["chain"]} | {row["stage"]} | '
                     f'{cell(row["sec_per_iter"], ".2f")} | '
                     f'{cell(row["step_s"], ".1f")} | '
                     f'{cell(row["rss_mb"], ",.0f")} | '
                     f'{cell(row["cuda_mb"], ",.0f")} | {row["code"]} |')
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
            # MGP runs whenever a baseline or MORE chain starts from it
            # (the pipeline has its own MGP step).
            needed = kind == 'mgp' and bool({'baselines', 'more'} & set(kinds))
            if not (wanted or needed):
                continue
            name = osp.splitext(config[len('configs/'):])[0]
            run_dir = osp.join(work_dir, 'runs', name.replace('/', '__'))
            result = run_chain(
                config, run_dir,
                chain_options(kind, benchmark, batch_size, tiny), device,
                amp, run_dir + '.log', work_dir,
                init if kind in ('baselines', 'more') else None)
            if kind == 'mgp':
                init = osp.join(run_dir, 'iter_2.pth')
            if kind == 'osdtw':
                stages = pipeline_steps(run_dir)
            else:  # one process, one stage: its peak RSS is the stage's
                logged = logged_iterations(run_dir)
                stages = dict(train=dict(
                    step_s=result['seconds'],
                    sec_per_iter=logged['sec_per_iter'],
                    rss_mb=result['max_rss_mb'],
                    cuda_mb=logged['cuda_mb']))
            for stage, info in (stages or dict(train={})).items():
                rows.append(
                    dict(
                        chain=name,
                        stage=stage,
                        sec_per_iter=info.get('sec_per_iter'),
                        step_s=info.get('step_s'),
                        rss_mb=info.get('rss_mb', result['max_rss_mb']),
                        cuda_mb=info.get('cuda_mb'),
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
    print(format_rows(rows))
    print(f'total: {time.time() - start:.0f} s')
    return 0 if all(r['code'] == 0 for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
