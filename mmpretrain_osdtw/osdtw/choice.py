"""The chosen task pair: shared depth ``C``, head weight ``w_A``, depth ``L``.

One value crosses the pipeline from the search to stage 2, assembly,
refinement and the test: :class:`TaskPairChoice`. It is made in one of two
ways, both in this module:

- :meth:`TaskPairChoice.from_search` reads ``search.json`` (the search's
  ``chosen`` ``C``/``w_A`` and the ViT's ``L``) and applies the user's
  override (``train_cfg.shared_depth`` / ``train_cfg.head_weight`` of the
  pipeline config, checked first by :func:`check_override`);
- :meth:`TaskPairChoice.from_validation` reads ``validation_choice.json``
  (``train_cfg.choose='validation'``: the best cell on the held-out split,
  :mod:`.validation_choice`) and applies the same override;
- the constructor, for a choice made by hand.

:meth:`TaskPairChoice.model_overrides` is the one mapping to the config
names of the models (``model.shared_depth``, ``model.head_weight``).
"""
import json
from dataclasses import dataclass, field
from typing import Dict, Optional

from mmpretrain_osdtw.utils import naming_file

#: The modes of stage 2: ``'truncate'`` trains the fully shared body
#: (``shared_depth = L``) and keeps its first ``C`` blocks (the paper);
#: ``'exact'`` shares exactly ``C`` blocks.
STAGE2_MODES = ('truncate', 'exact')


def check_override(shared_depth: Optional[int] = None,
                   head_weight: Optional[float] = None) -> None:
    """Check the user's ``train_cfg.shared_depth`` / ``head_weight``.

    Args:
        shared_depth (int, optional): The C to use instead of the search's.
        head_weight (float, optional): The w_A to use instead of the
            search's.

    Raises:
        ValueError: If ``shared_depth`` is not an int >= 0 or
            ``head_weight`` is outside [0, 1].
    """
    if shared_depth is not None and (not isinstance(shared_depth, int)
                                     or shared_depth < 0):
        raise ValueError('train_cfg.shared_depth must be an int >= 0, '
                         f'got {shared_depth!r}')
    if head_weight is not None and not 0.0 <= head_weight <= 1.0:
        raise ValueError('train_cfg.head_weight must be in [0, 1], got '
                         f'{head_weight!r}')


@dataclass(frozen=True)
class TaskPairChoice:
    """The ``(C, w_A)`` the pipeline trains, assembles and tests, with the
    ViT's depth ``L``.

    Args:
        shared_depth (int): ``C``, the encoder blocks the tasks share.
        head_weight (float): ``w_A``, the head task's loss weight.
        num_layers (int): ``L``, the blocks of the ViT.
        searched (dict, optional): The search's (or the validation
            split's) own ``{'C', 'w_A'}`` (for the log; not part of the
            value's equality or :meth:`to_dict`).
        source (str): What made the choice: ``'search'`` (the proxy) or
            ``'validation'`` (for the log, like ``searched``).

    Example:
        >>> choice = TaskPairChoice(shared_depth=2, head_weight=0.7,
        ...                         num_layers=4)
        >>> choice.model_overrides()
        {'model.shared_depth': 2, 'model.head_weight': 0.7}
        >>> choice.model_overrides(shared_depth=0)
        {'model.shared_depth': 0, 'model.head_weight': 0.7}
    """

    shared_depth: int
    head_weight: float
    num_layers: int
    searched: Optional[dict] = field(default=None, compare=False)
    source: str = field(default='search', compare=False)

    @classmethod
    def from_search(cls,
                    search_json: str,
                    shared_depth: Optional[int] = None,
                    head_weight: Optional[float] = None) -> 'TaskPairChoice':
        """The search's choice in ``search_json``, with the user's override.

        Args:
            search_json (str): The ``search.json`` of the search step.
            shared_depth (int, optional): Use this C instead (see
                :func:`check_override`).
            head_weight (float, optional): Use this w_A instead.

        Returns:
            TaskPairChoice: The choice.

        Raises:
            ValueError: If the depth is outside ``0..L``.
        """
        return cls._from_result_file(search_json,
                                     'search result (search.json)',
                                     shared_depth, head_weight)

    @classmethod
    def from_validation(cls,
                        choice_json: str,
                        shared_depth: Optional[int] = None,
                        head_weight: Optional[float] = None
                        ) -> 'TaskPairChoice':
        """The validation split's choice in ``choice_json``
        (``validation_choice.json``), with the user's override, as
        :meth:`from_search` applies it."""
        return cls._from_result_file(
            choice_json, 'validation result (validation_choice.json)',
            shared_depth, head_weight, source='validation')

    @classmethod
    def _from_result_file(cls, path: str, what: str,
                          shared_depth: Optional[int],
                          head_weight: Optional[float],
                          **extra) -> 'TaskPairChoice':
        """The ``chosen`` ``C``/``w_A`` and ``L`` of a result file (the
        search's or the validation split's), with the user's override."""
        check_override(shared_depth, head_weight)
        with naming_file(path, what):
            with open(path, encoding='utf-8') as f:
                result = json.load(f)
            chosen, num_layers = result['chosen'], result['L']
        depth = chosen['C'] if shared_depth is None else shared_depth
        if depth > num_layers:
            raise ValueError(
                f'train_cfg.shared_depth={depth} is outside 0..{num_layers}'
                f' (the ViT of {path} has {num_layers} blocks)')
        weight = chosen['w_A'] if head_weight is None else head_weight
        return cls(
            shared_depth=int(depth),
            head_weight=float(weight),
            num_layers=int(num_layers),
            searched=dict(C=chosen['C'], w_A=chosen['w_A']),
            **extra)

    def stage2_depth(self, mode: str) -> int:
        """The ``shared_depth`` stage 2 trains with in ``mode`` (one of
        :data:`STAGE2_MODES`): ``L`` for ``'truncate'``, ``C`` for
        ``'exact'``."""
        if mode not in STAGE2_MODES:
            raise ValueError(f'stage2_mode must be one of {STAGE2_MODES}, '
                             f'got {mode!r}')
        return self.num_layers if mode == 'truncate' else self.shared_depth

    def model_overrides(self,
                        shared_depth: Optional[int] = None
                        ) -> Dict[str, object]:
        """The choice as config overrides of a ``DualDecoderClassifier``.

        Args:
            shared_depth (int, optional): Another depth for this model (the
                stage-2 training depth, or 0 for the stage-1 pair); defaults
                to the chosen ``C``.

        Returns:
            dict: ``{'model.shared_depth': ..., 'model.head_weight': ...}``.
        """
        depth = self.shared_depth if shared_depth is None else shared_depth
        return {
            'model.shared_depth': depth,
            'model.head_weight': self.head_weight
        }

    def to_dict(self) -> Dict[str, object]:
        """``{'shared_depth', 'head_weight', 'num_layers'}`` (the ``chosen``
        entry of ``report.json``)."""
        return dict(
            shared_depth=self.shared_depth,
            head_weight=self.head_weight,
            num_layers=self.num_layers)

    def describe(self) -> str:
        """One log line: what the search chose and what is used."""
        used = f'using C={self.shared_depth}, w_A={self.head_weight}'
        if self.searched is None:
            return used
        return (f'{self.source} chose C={self.searched["C"]}, '
                f'w_A={self.searched["w_A"]}; {used}')
