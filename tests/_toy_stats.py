"""Statistics files of a toy task pair, for the SGD-noise tests."""
import torch

from mmpretrain_osdtw.osdtw.stats_format import FORMAT_VERSION


def write_toy_task_stats(tmp_path) -> dict:
    """Write ``fisher_head.pth`` / ``fisher_tail.pth`` of a 1-layer toy
    (synthetic numbers: params 1 for the head task, 0 for the tail task;
    v = h = 1) under ``tmp_path``; return ``{task: path}``."""
    out = {}
    for task, value in (('head', 1.0), ('tail', 0.0)):
        names = ('backbone.w', 'head.fc.weight')
        obj = dict(
            format_version=FORMAT_VERSION,
            task=task,
            num_samples=10,
            num_layers=1,
            param_layers={'backbone.w': 1, 'head.fc.weight': 0},
            params={n: torch.full((2, ), value) for n in names},
            v={n: torch.ones(2) for n in names},
            h={n: torch.ones(2) for n in names},
            meta=dict(num_classes=2, class_ids=[0] if task == 'head' else [1]))
        out[task] = tmp_path / f'fisher_{task}.pth'
        torch.save(obj, out[task])
    return out
