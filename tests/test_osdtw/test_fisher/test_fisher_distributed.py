"""Two gloo processes give the single-process statistics."""
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _toy_fisher import assert_close, build_model, loader, make_items
from mmengine.dataset import DefaultSampler
from torch.utils.data import DistributedSampler

from mmpretrain_osdtw.osdtw.fisher import (cross_task_statistics,
                                           fisher_statistics)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _ddp_worker(rank, world, port, state_path, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world)
    try:
        states = torch.load(state_path, weights_only=True)
        models = {}
        for task in ('head', 'tail'):
            models[task] = build_model(task)
            models[task].load_state_dict(states[task])
        items = make_items(7)
        samplers = dict(
            torch=DistributedSampler(items, shuffle=False),
            mmengine=DefaultSampler(items, shuffle=False))
        for name, sampler in samplers.items():
            data = loader(items, 2, sampler)
            stats = fisher_statistics(
                models['tail'],
                data,
                num_model_samples=2,
                seed=3,
                chunk_size=1)
            cross = cross_task_statistics(models['head'], models['tail'], data)
            subset = fisher_statistics(
                models['tail'], data, seed=3, max_samples=5)
            if rank == 0:
                torch.save(
                    dict(stats=stats, cross=cross, subset=subset),
                    os.path.join(out_dir, f'{name}.pth'))
    finally:
        dist.destroy_process_group()


def test_distributed_equals_single_process(tmp_path):
    models = {'head': build_model('head', 1), 'tail': build_model('tail', 2)}
    state_path = str(tmp_path / 'states.pth')
    torch.save({t: m.state_dict() for t, m in models.items()}, state_path)
    items = make_items(7)
    single = fisher_statistics(
        models['tail'], loader(items), num_model_samples=2, seed=3)
    single_k = cross_task_statistics(models['head'], models['tail'],
                                     loader(items))
    # max_samples counts over all ranks: the first 5 of the global order
    first5 = fisher_statistics(models['tail'], loader(items[:5]), seed=3)
    # fork: the children skip re-importing torch/mmpretrain (one thread in
    # the parent, see conftest.py, so forking is safe).
    context = mp.start_processes(
        _ddp_worker,
        args=(2, _free_port(), state_path, str(tmp_path)),
        nprocs=2,
        join=False,
        start_method='fork')
    deadline = time.time() + 120
    while not context.join(timeout=2):
        if time.time() > deadline:
            for proc in context.processes:
                proc.kill()
            pytest.fail('the 2-process Fisher pass did not finish in 120 s')
    for name in ('torch', 'mmengine'):
        out = torch.load(tmp_path / f'{name}.pth', weights_only=False)
        assert out['stats']['num_samples'] == 7
        assert out['cross']['num_samples'] == 7
        assert_close(out['stats']['v'], single['v'], rtol=1e-10)
        assert_close(out['stats']['h'], single['h'], rtol=1e-10)
        assert_close(out['cross']['k'], single_k['k'], rtol=1e-10)
        assert out['subset']['num_samples'] == 5
        assert_close(out['subset']['v'], first5['v'], rtol=1e-10)
        assert_close(out['subset']['h'], first5['h'], rtol=1e-10)
