"""The stage configs of a pipeline config: one loader for the pipeline
runner and the pre-flight.

A pipeline config names its stage configs in ``train_cfg`` (paths relative
to its own folder, :data:`STAGE_KEYS`). :class:`StageConfigs` loads each
one with the pipeline's options applied (``train_cfg.stage_cfg_options``
to every stage config but MGP's, ``train_cfg.mgp_cfg_options`` to the MGP
config, then ``train_cfg.per_stage_cfg_options.<key>`` to stage ``key``
alone, e.g. ``per_stage_cfg_options.refine.train_cfg.max_epochs=6``) and
gives the content
key of that resolved config (a SHA-1 of its dict), which enters the key of
every step that uses it: an edited stage config, or a changed option,
reruns the steps built from it. The flattened config is kept beside the
key so that a rerun can name the settings that changed.
"""
import copy
import difflib
import hashlib
import json
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config

from mmpretrain_osdtw.models.utils import set_backbone_init
from mmpretrain_osdtw.utils import InputError
from ..launch import load_config

#: ``train_cfg`` keys of a pipeline config that name stage configs.
STAGE_KEYS = ('mgp', 'stage1_pair', 'stage1_head', 'stage1_tail', 'stage2',
              'assemble', 'refine')
#: Stands for the MGP step's checkpoint before the MGP step has run (a
#: ``scheme://`` path: the pre-flight does not look for the file).
MGP_STEP_CHECKPOINT = 'mgp-step://last-checkpoint'
#: Changed settings named in one log line, at most.
SHOWN_CHANGES = 3


def flatten(node, prefix: str = '') -> Dict[str, str]:
    """A config dict as ``{'a.b[0].c': repr(value)}`` (lists of plain
    values stay one entry).

    Example:
        >>> flatten({'train_cfg': {'max_epochs': 3}, 'x': [1, 2]})
        {'train_cfg.max_epochs': '3', 'x': '[1, 2]'}
    """
    out: Dict[str, str] = {}
    if isinstance(node, dict):
        for key in sorted(node, key=str):
            name = f'{prefix}.{key}' if prefix else str(key)
            out.update(flatten(node[key], name))
    elif isinstance(node, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) for v in node):
        for i, value in enumerate(node):
            out.update(flatten(value, f'{prefix}[{i}]'))
    else:
        out[prefix] = repr(node)
    return out


def describe_changes(old: Dict[str, str], new: Dict[str, str]) -> str:
    """The first :data:`SHOWN_CHANGES` differences of two flattened configs,
    e.g. ``'train_cfg.max_epochs 2 -> 3'``.

    Example:
        >>> describe_changes({'a': '1', 'b': '2'}, {'a': '1', 'b': '3'})
        'b 2 -> 3'
    """
    changes: List[str] = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes.append(f'{key} {old.get(key, "(unset)")} -> '
                           f'{new.get(key, "(unset)")}')
    more = len(changes) - SHOWN_CHANGES
    shown = ', '.join(changes[:SHOWN_CHANGES])
    return shown + (f' and {more} more' if more > 0 else '')


class StageConfigs:
    """Load the stage configs of a pipeline config.

    Args:
        pipeline_cfg (Config): The pipeline config (``train_cfg.type =
            'StageRunner'``); paths are relative to its file's folder.

    Raises:
        InputError: A named stage config does not exist.
    """

    def __init__(self, pipeline_cfg: Config) -> None:
        train_cfg = pipeline_cfg.train_cfg
        folder = osp.dirname(osp.abspath(pipeline_cfg.filename or '.'))
        self.paths: Dict[str, str] = {}
        for key in STAGE_KEYS:
            name = train_cfg.get(key)
            if name is None:
                continue
            path = osp.join(folder, name)
            if not osp.isfile(path):
                raise InputError(f'train_cfg.{key}: the stage config '
                                 f'{path!r} does not exist')
            self.paths[key] = path
        per_stage = dict(train_cfg.get('per_stage_cfg_options') or {})
        for key in per_stage:
            if key not in STAGE_KEYS:
                close = difflib.get_close_matches(key, STAGE_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ''
                raise InputError(f'train_cfg.per_stage_cfg_options.{key}: '
                                 f'not a stage of the pipeline{hint}; '
                                 f'stages: {", ".join(STAGE_KEYS)}')
        self.options = {
            key: [
                dict(train_cfg.get('mgp_cfg_options' if key ==
                                   'mgp' else 'stage_cfg_options') or {}),
                dict(per_stage.get(key) or {})
            ]
            for key in self.paths
        }
        self._loaded: Dict[str, Config] = {}
        self._flat: Dict[str, Dict[str, str]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.paths

    def load(self, name: str) -> Config:
        """Stage config ``name`` with its options applied (a fresh copy).

        Raises:
            InputError: If it does not load (naming ``train_cfg.<name>``).
        """
        if name not in self._loaded:
            try:
                cfg = load_config(self.paths[name])
            except (FileNotFoundError, SyntaxError, KeyError, TypeError,
                    ImportError) as err:
                raise InputError(f'train_cfg.{name}: {err}') from err
            for options in self.options[name]:
                if options:
                    cfg.merge_from_dict(copy.deepcopy(options))
            self._loaded[name] = cfg
        return copy.deepcopy(self._loaded[name])

    def load_with_init(self, name: str, init: Optional[str]) -> Config:
        """:meth:`load`, every backbone starting from ``init`` (the MGP
        checkpoint; not for the MGP config itself)."""
        cfg = self.load(name)
        if init is not None and name != 'mgp':
            set_backbone_init(cfg.model, init)
        return cfg

    def flat(self, name: str) -> Dict[str, str]:
        """The resolved config ``name``, flattened (see :func:`flatten`)."""
        if name not in self._flat:
            self._flat[name] = flatten(self.load(name).to_dict())
        return self._flat[name]

    def key(self, name: str) -> Dict[str, str]:
        """``{'file': <file name>, 'sha1': <of the resolved config>}``: a
        step's key entry for a config it uses (the folder is left out: a
        moved repository keeps its keys)."""
        text = json.dumps(self.flat(name), sort_keys=True)
        return dict(
            file=osp.basename(self.paths[name]),
            sha1=hashlib.sha1(text.encode()).hexdigest())

    def items(self, init: Optional[str] = None
              ) -> Iterator[Tuple[str, Config]]:
        """``(name, config)`` of every stage config, with ``init`` as
        :meth:`load_with_init` applies it."""
        for name in self.paths:
            yield name, self.load_with_init(name, init)
