"""Statistics files of toy task pairs, for the search, pairing and
SGD-noise tests."""
import torch

from mmpretrain_osdtw.osdtw.fisher import FORMAT_VERSION

# a tiny two-layer "model": name -> (layer id, shape)
PARAMS = {
    'backbone.patch_embed.weight': (1, (3, 2)),
    'backbone.layers.0.weight': (1, (4, )),
    'backbone.layers.1.weight': (2, (2, 2)),
    'head.fc.weight': (0, (3, )),
}
NUM_SAMPLES = 1000


def task_file(task: str, seed: int, **overrides) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def rand(shape):
        return torch.rand(shape, generator=gen)

    obj = dict(
        format_version=1,
        task=task,
        num_samples=NUM_SAMPLES,
        num_layers=2,
        param_layers={
            n: layer
            for n, (layer, _) in PARAMS.items()
        },
        params={
            n: 0.01 * torch.randn(s, generator=gen)
            for n, (_, s) in PARAMS.items()
        },
        v={
            n: rand(s) + 0.5
            for n, (_, s) in PARAMS.items()
        },
        h={
            n: rand(s) + 0.3
            for n, (_, s) in PARAMS.items()
        },
        meta=dict(
            model='ImageClassifier',
            class_ids=[0, 1] if task == 'head' else [2, 3],
            num_classes=4,
            fingerprint='abc'))
    obj.update(overrides)
    return obj


def cross_file(**overrides) -> dict:
    gen = torch.Generator().manual_seed(3)
    obj = dict(
        format_version=1,
        k={
            n: -0.1 * torch.rand(s, generator=gen)
            for n, (_, s) in PARAMS.items()
        },
        num_samples=NUM_SAMPLES)
    obj.update(overrides)
    return obj


def write_artifacts(tmp_path) -> dict:
    """``fisher_{head,tail,cross}.pth`` of :func:`task_file` and
    :func:`cross_file` under ``tmp_path``; return ``{key: path}``."""
    paths = {}
    for key, obj in (('head', task_file('head', 1)),
                     ('tail', task_file('tail', 2)), ('cross', cross_file())):
        paths[key] = str(tmp_path / f'fisher_{key}.pth')
        torch.save(obj, paths[key])
    return paths


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
            param_layers={
                'backbone.w': 1,
                'head.fc.weight': 0
            },
            params={n: torch.full((2, ), value)
                    for n in names},
            v={n: torch.ones(2)
               for n in names},
            h={n: torch.ones(2)
               for n in names},
            meta=dict(num_classes=2, class_ids=[0] if task == 'head' else [1]))
        out[task] = tmp_path / f'fisher_{task}.pth'
        torch.save(obj, out[task])
    return out
