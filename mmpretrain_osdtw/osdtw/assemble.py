"""OSDTW stage 3: assemble the two-branch model from stage checkpoints.

The assembled :class:`DualDecoderClassifier` takes

* its shared encoder (stem and blocks ``1..C``) from the stage-2 checkpoint
  (a ``DualDecoderClassifier`` trained with ``shared_depth >= C``), and
* each task decoder (blocks ``C+1..L``, final norms) and task head from that
  task's stage-1 checkpoint (an ``ImageClassifier`` with a task head).

The result is saved as an ordinary MMPretrain checkpoint
(``dict(meta=..., state_dict=...)``) that ``tools/test.py`` evaluates with
the assembly config.
"""
from typing import Dict, Optional, Tuple

import torch
from mmengine.runner.checkpoint import _load_checkpoint, weights_to_cpu

from mmpretrain_osdtw.models.utils import build_model
from mmpretrain_osdtw.utils import atomic_torch_save, naming_file

TASKS = ('head', 'tail')


def load_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """The ``state_dict`` and ``meta`` of a checkpoint file.

    Args:
        path (str): Checkpoint path.

    Returns:
        tuple: ``(state_dict, meta)``.
    """
    with naming_file(path, 'checkpoint'):
        ckpt = _load_checkpoint(path, map_location='cpu', logger='current')
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        raise ValueError(f'{path!r} is not an MMPretrain checkpoint (no '
                         '"state_dict")')
    return ckpt['state_dict'], ckpt.get('meta', {}) or {}


def sub_state(state: Dict[str, torch.Tensor],
              prefix: str) -> Dict[str, torch.Tensor]:
    """Entries under ``prefix`` with the prefix removed."""
    return {
        key[len(prefix):]: value
        for key, value in state.items() if key.startswith(prefix)
    }


def stage1_class_split(state: Dict[str, torch.Tensor], path: str,
                       task: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``(class_counts, class_ids)`` a stage-1 task head was trained
    with; checks that the checkpoint really is the ``task`` model."""
    try:
        counts, ids = state['head.class_counts'], state['head.class_ids']
    except KeyError as err:
        raise ValueError(
            f'{path!r} has no {err.args[0]!r}: not a stage-1 model with a '
            'LogitAdjustedBCEHead') from None
    return counts, ids


def check_same_split(model, split: Dict[str, Tuple[torch.Tensor,
                                                   torch.Tensor]],
                     paths: Dict[str, str]) -> None:
    """Both stage-1 models must come from the same training counts, and
    each must own exactly the classes the assembled model gives its task."""
    counts = {task: split[task][0] for task in split}
    if len(counts) == 2 and not torch.equal(counts['head'], counts['tail']):
        raise ValueError(
            f'stage-1 checkpoints {paths["head"]!r} and {paths["tail"]!r} '
            'were trained with different class counts (another dataset or '
            'class split)')
    for task, (task_counts, ids) in split.items():
        head = model.heads[task]
        if head.counts_are_set and not torch.equal(head.class_counts.cpu(),
                                                   task_counts):
            raise ValueError(f'{paths[task]!r}: class counts differ from '
                             'the model being assembled')
        head.set_class_counts(task_counts.numpy())
        if not torch.equal(head.class_ids.cpu(), ids):
            raise ValueError(
                f'{paths[task]!r} is not a {task}-task model: its head owns '
                f'classes {ids.tolist()[:8]}..., the {task} task is '
                f'{head.class_ids.tolist()[:8]}...')


def load_stage1_decoders(model,
                         stage1_paths: Dict[str, str],
                         parts: str = 'decoder') -> None:
    """Copy each task's stage-1 body (``parts``) and head into ``model``.

    Args:
        model (DualDecoderClassifier): The model to fill.
        stage1_paths (dict): ``{'head': path, 'tail': path}``.
        parts (str): Which body parameters to copy: ``'decoder'`` (the
            task-specific ones) or ``'all'``.
    """
    states, split = {}, {}
    for task, path in stage1_paths.items():
        state, _ = load_state_dict(path)
        split[task] = stage1_class_split(state, path, task)
        states[task] = state
    check_same_split(model, split, stage1_paths)
    for task, state in states.items():
        try:
            model.load_backbone_state(
                sub_state(state, 'backbone.'), parts=parts, tasks=(task, ))
            model.heads[task].load_state_dict(sub_state(state, 'head.'))
        except (KeyError, ValueError, RuntimeError) as err:
            raise ValueError(f'{stage1_paths[task]!r} does not fit the '
                             f'assembled model: {err}') from None


def load_stage2_encoder(model, stage2_path: str) -> None:
    """Copy the shared encoder (stem and blocks ``1..C``) of a stage-2
    ``DualDecoderClassifier`` checkpoint into ``model``."""
    state, meta = load_state_dict(stage2_path)
    encoder = sub_state(state, 'backbone.')
    depth = model.shared_depth
    missing = [
        key for key in model.state_dict() if key.startswith('backbone.')
        and key[len('backbone.'):] not in encoder
    ]
    if missing:
        raise ValueError(
            f'{stage2_path!r} cannot give an encoder of depth C={depth}: it '
            f'lacks {missing[0]!r} (was stage 2 trained with fewer shared '
            'blocks?)')
    wanted = {k: v for k, v in encoder.items() if model.is_shared(k)}
    model.load_backbone_state(wanted, parts='encoder')


def assemble_model(model,
                   stage1_paths: Dict[str, str],
                   stage2_path: Optional[str] = None):
    """Fill an assembled ``DualDecoderClassifier`` (stage 3).

    Args:
        model (DualDecoderClassifier): Built with the chosen ``shared_depth``
            and ``head_weight``.
        stage1_paths (dict): ``{'head': ckpt, 'tail': ckpt}`` of stage 1.
        stage2_path (str, optional): The stage-2 checkpoint; required when
            ``shared_depth > 0``.

    Returns:
        DualDecoderClassifier: ``model``, filled.
    """
    load_stage1_decoders(model, stage1_paths)
    if model.shared_depth > 0:
        if stage2_path is None:
            raise ValueError('a stage-2 checkpoint is needed for '
                             f'shared_depth={model.shared_depth} > 0')
        load_stage2_encoder(model, stage2_path)
    return model


def save_model_checkpoint(model, path: str, meta: dict) -> None:
    """Save ``model`` as an MMPretrain checkpoint, atomically."""
    atomic_torch_save(
        dict(meta=meta, state_dict=weights_to_cpu(model.state_dict())), path)


def assemble_from_config(cfg,
                         stage1_paths: Dict[str, str],
                         stage2_path: Optional[str],
                         shared_depth: int,
                         head_weight: float,
                         out_checkpoint: str,
                         out_config: Optional[str] = None) -> None:
    """Build the assembly config's model at ``(C, w_A)``, fill it from the
    stage checkpoints and save it (and the resolved config) atomically.

    Args:
        cfg (Config): The stage-3 assembly config (changed in place:
            ``model.shared_depth``/``head_weight`` are set,
            ``load_from`` cleared).
        stage1_paths (dict): ``{'head': ckpt, 'tail': ckpt}``.
        stage2_path (str, optional): Stage-2 checkpoint (needed for C > 0).
        shared_depth (int): C.
        head_weight (float): w_A.
        out_checkpoint (str): Where the checkpoint goes.
        out_config (str, optional): Where the resolved config goes, so that
            ``tools/test.py OUT_CONFIG OUT_CHECKPOINT`` evaluates it.
    """
    cfg.model.shared_depth = shared_depth
    cfg.model.head_weight = head_weight
    cfg.load_from = None
    model = build_model(cfg)
    model.init_weights()
    assemble_model(model, stage1_paths, stage2_path)
    save_model_checkpoint(
        model, out_checkpoint,
        dict(
            shared_depth=shared_depth,
            head_weight=head_weight,
            stage1=dict(stage1_paths),
            stage2=stage2_path))
    if out_config is not None:
        from mmpretrain_osdtw.utils import atomic_write
        atomic_write(out_config, cfg.dump)
