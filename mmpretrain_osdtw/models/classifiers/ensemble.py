"""Plain ensembles: several classifiers, their class scores averaged.

An OSDTW model assembled at shared depth ``C`` duplicates blocks ``C+1..L``
(two full models at ``C = 0``), so a fair comparison puts it beside an
ensemble of baselines at the same inference cost. :class:`ScoreEnsemble`
is that ensemble as an ordinary MMPretrain model: one config, one
checkpoint (:func:`ensemble_checkpoint` writes it from the members'
checkpoints), ``tools/test.py`` and the cost tools work on it unchanged.
"""
import copy
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseModel, ModuleList
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..heads import pack_predictions

PREFIX = 'members.'


def _member_cfg(member: dict) -> dict:
    """A member's model config without its own preprocessor (the
    ensemble's prepares the batch once)."""
    cfg = copy.deepcopy(dict(member))
    cfg.pop('data_preprocessor', None)
    return cfg


@MODELS.register_module()
class ScoreEnsemble(BaseModel):
    """The mean of its members' class scores (``pred_score``), for
    inference.

    Each member is a classifier config (an ``ImageClassifier``, a
    ``DualDecoderClassifier``, ...) whose ``predict`` writes ``pred_score``:
    softmax probabilities for a softmax head, per-class sigmoids for a
    logit-adjusted BCE head. The ensemble averages them and predicts their
    argmax; the test NLL of ``ShotGroupMetric`` reads the averaged scores as
    the ensemble's likelihood (the mean of the members' probabilities).
    Members of different score kinds (softmax with sigmoid) would average
    different things: keep one kind per ensemble.

    The batch is prepared once by the ensemble's preprocessor, by default
    the first member's ``data_preprocessor``; every member's must equal it
    (one line names the first that differs). Training an ensemble is not
    supported (``mode='loss'`` raises): train the members, then join their
    checkpoints with :func:`ensemble_checkpoint`.

    Args:
        members (list[dict]): Two or more classifier configs.
        data_preprocessor (dict, optional): The batch preprocessor.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> # an ensemble of two seeds of one recipe (in a config file)
        >>> _base_ = './vit-d96-p8_la-ce.py'
        >>> model = dict(_delete_=True, type='ScoreEnsemble',
        ...              members=[{{_base_.model}}, {{_base_.model}}])
        ... # doctest: +SKIP
    """

    def __init__(self,
                 members: Sequence[dict],
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        members = list(members or [])
        if len(members) < 2:
            raise ValueError('ScoreEnsemble: `members` needs two or more '
                             f'classifier configs, got {len(members)}')
        first = dict(members[0]).get('data_preprocessor')
        for i, member in enumerate(members[1:], start=1):
            if dict(member).get('data_preprocessor') != first:
                raise ValueError(
                    f'ScoreEnsemble: members[{i}].data_preprocessor differs '
                    'from members[0]\'s; the ensemble prepares each batch '
                    'once: give every member the same one')
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(first) or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type',
                                         'mmpretrain.ClsDataPreprocessor')
        super().__init__(
            init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        # mmengine's ModuleList: init_weights reaches the members.
        self.members = ModuleList(
            [MODELS.build(_member_cfg(m)) for m in members])

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'predict'``: the averaged scores; ``'tensor'``: each member's
        tensor output, in a tuple (for cost measurement); ``'loss'``:
        refused."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return tuple(m(inputs, mode='tensor') for m in self.members)
        if mode == 'loss':
            raise RuntimeError(
                'ScoreEnsemble is for inference: train each member with '
                'its own config, then join the checkpoints '
                '(tools/ensemble_checkpoints.py)')
        raise RuntimeError(f'ScoreEnsemble: invalid mode "{mode}"')

    @torch.no_grad()
    def member_scores(self, inputs: torch.Tensor,
                      data_samples: Optional[List[DataSample]] = None
                      ) -> torch.Tensor:
        """``(M, B, K)``: every member's ``pred_score`` of the batch."""
        scores = []
        for i, member in enumerate(self.members):
            samples = None if data_samples is None else [
                DataSample(metainfo=s.metainfo) for s in data_samples
            ]
            out = member(inputs, samples, mode='predict')
            if any('pred_score' not in s for s in out):
                raise RuntimeError(
                    f'ScoreEnsemble: members[{i}] ({type(member).__name__}) '
                    'gives no pred_score to average')
            scores.append(torch.stack([s.pred_score for s in out]))
        shapes = {tuple(s.shape) for s in scores}
        if len(shapes) > 1:
            raise RuntimeError('ScoreEnsemble: the members score different '
                               f'numbers of classes: {sorted(shapes)}')
        return torch.stack(scores)

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """The mean of the members' scores as ``pred_score``, its argmax as
        ``pred_label``."""
        return pack_predictions(
            self.member_scores(inputs, data_samples).mean(dim=0),
            data_samples)


def ensemble_state_dict(states: Sequence[dict]) -> dict:
    """One :class:`ScoreEnsemble` state dict from its members' (keys
    ``members.<i>.<name>``; each member's preprocessor entries dropped)."""
    out = {}
    for i, state in enumerate(states):
        for key, value in state.items():
            if not key.startswith('data_preprocessor.'):
                out[f'{PREFIX}{i}.{key}'] = value
    return out


def ensemble_checkpoint(checkpoints: Sequence[str], out_file: str) -> str:
    """Join members' checkpoints into one :class:`ScoreEnsemble`
    checkpoint, atomically, in the order given (member ``i`` of the
    config gets ``checkpoints[i]``).

    Args:
        checkpoints (list[str]): Two or more mmengine checkpoints.
        out_file (str): Target ``.pth`` (``state_dict`` and ``meta`` naming
            the members).

    Returns:
        str: ``out_file``.

    Raises:
        ValueError: Fewer than two checkpoints, or one torch cannot read
            (names the file).
        KeyError: A checkpoint without a ``state_dict`` (names the file).
        FileNotFoundError: A missing checkpoint.
        UntrustedCheckpointError: One that holds more than weights (see
            :func:`~mmpretrain_osdtw.utils.load_checkpoint_file`).
    """
    from mmpretrain_osdtw.utils import (atomic_torch_save,
                                        load_state_dict_file)
    if len(checkpoints) < 2:
        raise ValueError('an ensemble needs two or more checkpoints, got '
                         f'{len(checkpoints)}')
    states = [load_state_dict_file(path) for path in checkpoints]
    atomic_torch_save(
        dict(state_dict=ensemble_state_dict(states),
             meta=dict(source='ScoreEnsemble', members=list(checkpoints))),
        out_file)
    return out_file
