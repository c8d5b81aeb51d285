"""The ledger of a resumable pipeline: one ``done.json`` per finished step.

A pipeline work dir holds one folder per step, ``<work_dir>/<step>/``. A
step is finished when its ``done.json`` exists (written atomically, last,
by rank 0) and every artifact it lists exists. ``done.json`` holds::

    {"step": "stage2",
     "key": {...},            # the step's settings and inputs
     "artifacts": {"checkpoint": "stage2/epoch_3.pth", ...},
     "files": {"checkpoint": {"size": 1234, "sha256": "..."}, ...},
     "configs": {"stage2": {"train_cfg.max_epochs": "3", ...}},
     "seconds": 12.3, "finished": "2025-01-01 12:00:00",
     "peak_memory_mb": {"rss": 812.4, "cuda": null}, ...}

A step's key holds everything its outputs depend on: its settings, the
content hash of each config it uses (``configs`` keeps those configs
flattened, to name what changed) and the SHA-256 of each earlier artifact
it reads (:meth:`StepLedger.digest`). A step runs again when its key
changed, with one line naming what changed; a step downstream of a rerun
step runs again when the rerun changed what it reads (a search that
chooses the same ``C`` and ``w_A`` again does not retrain stage 2).

``files`` records each artifact's size and SHA-256 (read in 1 MiB chunks
when the step finishes and on every rerun); a rerun runs a step again when
an artifact is missing, truncated or changed, and logs one line naming the
file and why. An unreadable ``done.json`` (truncated, not a JSON object)
means "not done", also logged with its path. A step that fails before
writing any file removes the folder it created.

``peak_memory_mb`` is the step's own peak (the CPU high-water mark is
reset when the step starts, see :mod:`mmpretrain_osdtw.utils.peak_memory`;
of the last run of a resumed step).

``started.json`` (written when a step starts) holds what the step's partial
outputs come from and the seconds of its runs that ended without finishing
(an interrupt or an error)::

    {"inputs": {"key": {...}}, "segments": [41.2, 17.9]}

A rerun with the same inputs adds its own time to them: ``done.json``'s
``seconds`` is the sum over every run of the step (a run killed with
SIGKILL records nothing). Each step logs one line when it starts and one
when it ends, with ``step k of n`` and that time.

Paths under the work dir are stored relative to it, so a moved or copied
work dir resumes the same way (files of older runs with absolute paths are
read too). A step whose key changed, or one of whose artifacts is gone or
changed, runs again.

Example:
    >>> ledger = StepLedger('work_dirs/run', ('prepare', 'train'))
    ... # doctest: +SKIP
    >>> done = ledger.run_step(
    ...     'prepare', dict(size=3),
    ...     lambda: dict(artifacts=dict(data='/abs/run/prepare/data.pt')))
    ... # doctest: +SKIP
    >>> done['artifacts']['data']  # doctest: +SKIP
    '/abs/run/prepare/data.pt'
"""
import json
import os
import os.path as osp
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.dist import barrier, is_main_process

from mmpretrain_osdtw.utils import (Interrupted, atomic_json_dump,
                                    check_digest, file_digest)
from mmpretrain_osdtw.utils.peak_memory import (peak_memory_mb,
                                                reset_peak_memory)

DONE_FILE = 'done.json'
#: Written when a step starts: the inputs its partial outputs come from,
#: and the seconds of its interrupted runs.
STARTED_FILE = 'started.json'


class StepLedger:
    """Read and write the ``done.json`` of each step of a work dir.

    Args:
        root (str): The pipeline's work dir.
        steps (Sequence[str]): Every step, in the order the pipeline runs
            them.
        log (Callable[[str], None], optional): Where the ``running`` /
            ``skipped`` lines go. Defaults to None (silent).
    """

    def __init__(self,
                 root: str,
                 steps: Sequence[str],
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.root = osp.abspath(root)
        self.steps = tuple(steps)
        self._log = log
        self._reported = set()  # unreadable done.json files already logged
        self._may_resume: Dict[str, bool] = {}

    # ------------------------------------------------------------ paths
    def step_dir(self, step: str) -> str:
        """``<root>/<step>``."""
        return osp.join(self.root, step)

    def done_path(self, step: str) -> str:
        """``<root>/<step>/done.json``."""
        return osp.join(self.step_dir(step), DONE_FILE)

    def relative(self, obj):
        """``obj`` with every absolute path inside the work dir made
        relative to it (strings in nested dicts and lists)."""
        if isinstance(obj, dict):
            return {k: self.relative(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.relative(v) for v in obj]
        if isinstance(obj, str) and osp.isabs(obj):
            rel = osp.relpath(obj, self.root)
            if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                return rel
        return obj

    def absolute(self, path: str) -> str:
        """A ``done.json`` artifact path, resolved against the work dir."""
        return path if osp.isabs(path) else osp.join(self.root, path)

    # ---------------------------------------------------------- reading
    def read(self, step: str) -> Optional[dict]:
        """The ``done.json`` of a finished step, or None.

        Its ``key`` comes back with work-dir paths relative (also for files
        written with absolute paths), its ``artifacts`` as absolute paths.
        """
        path = self.done_path(step)
        if not osp.isfile(path):
            return None
        try:
            with open(path, encoding='utf-8') as f:
                done = json.load(f)
            if not isinstance(done, dict):
                raise ValueError(f'a JSON {type(done).__name__}, not an '
                                 'object')
            if not isinstance(done.get('artifacts', {}), dict):
                raise ValueError('its "artifacts" is not an object')
        except (ValueError, UnicodeDecodeError) as err:
            if path not in self._reported:
                self._reported.add(path)
                self.log(f'{step}: {path} is unreadable ({err}); the step '
                         'counts as not done')
            return None
        done['key'] = self.relative(done.get('key'))
        done['artifacts'] = {
            name: self.absolute(p)
            for name, p in done.get('artifacts', {}).items()
        }
        return done

    def artifact(self, step: str, name: str) -> str:
        """One artifact of a finished step, as an absolute path.

        Raises:
            FileNotFoundError: If the step has no ``done.json``.
            KeyError: If it lists no artifact ``name``.
        """
        done = self.read(step)
        if done is None:
            raise FileNotFoundError(
                f'{self.done_path(step)} does not exist (step {step!r} '
                'has not finished)')
        return done['artifacts'][name]

    def timings(self,
                steps: Optional[Sequence[str]] = None) -> Dict[str, float]:
        """``{step: seconds}`` of the finished ones of ``steps`` (default:
        every step), in order."""
        out = {}
        for step in self.steps if steps is None else steps:
            done = self.read(step)
            if done is not None:
                out[step] = done['seconds']
        return out

    def digest(self, step: str, name: str) -> Optional[str]:
        """The recorded SHA-256 of artifact ``name`` of a finished step (the
        key entry of a later step that reads it); None if not recorded."""
        done = self.read(step)
        files = (done or {}).get('files') or {}
        return (files.get(name) or {}).get('sha256')

    def is_done(self,
                step: str,
                key: dict,
                configs: Optional[Dict[str, Dict[str, str]]] = None) -> bool:
        """Whether ``step`` finished with the same ``key`` and all of its
        artifacts are still there; logs why not (once the step ran).
        ``configs``: the flattened configs of ``key`` (see :meth:`run_step`),
        to name the settings that changed."""
        done = self.read(step)
        if done is None:
            self.log_missing(step)
            return False
        if done.get('key') != self.relative(key):
            self.log(f'{step}: {self.describe_change(done, key, configs)}; '
                     'the step runs again')
            return False
        return self.artifacts_intact(step, done)

    def log_missing(self, step: str) -> None:
        """Say why a step without ``done.json`` runs when later steps are
        done (its folder was deleted, or it did not finish)."""
        later = self.steps[self.steps.index(step) + 1:]
        if not any(osp.isfile(self.done_path(s)) for s in later):
            return
        what = ('its folder ' + self.step_dir(step) + ' is missing'
                if not osp.isdir(self.step_dir(step)) else
                f'{self.done_path(step)} is missing')
        self.log(f'{step}: {what}; the step runs again')

    def describe_change(
            self,
            done: dict,
            key: dict,
            configs: Optional[Dict[str, Dict[str, str]]] = None) -> str:
        """What differs between a finished step's key and ``key``: the
        changed settings of a config it uses (from ``done['configs']`` and
        ``configs``), else the changed key entries."""
        from .stage_configs import describe_changes
        old, new = done.get('key') or {}, self.relative(key)
        names = sorted(k for k in set(old) | set(new)
                       if old.get(k) != new.get(k))
        parts = []
        for name in names:
            before = (done.get('configs') or {}).get(name)
            after = (configs or {}).get(name)
            if before is not None and after is not None:
                parts.append(f'config {name}: '
                             f'{describe_changes(before, after)}')
            else:
                parts.append(f'{name} changed')
        return '; '.join(parts) if parts else 'its settings changed'

    def artifacts_intact(self, step: str, done: dict) -> bool:
        """Whether every artifact of ``done`` still matches its recorded
        size and SHA-256 (only existence for ``done.json`` files without
        ``files``); logs the first one that does not."""
        files = done.get('files') or {}
        for name, path in done['artifacts'].items():
            if name in files:
                reason = check_digest(path, files[name])
            else:
                reason = None if osp.isfile(path) else 'missing'
            if reason is not None:
                self.log(f'{step}: artifact {path} is {reason}; the step '
                         'runs again')
                return False
        return True

    # ---------------------------------------------------------- writing
    def mark_done(self, step: str, key: dict, artifacts: Dict[str, str],
                  seconds: float, **info) -> dict:
        """Write the ``done.json`` of ``step`` (rank 0, atomically).

        Returns:
            dict: Its content, with ``artifacts`` as given.
        """
        done = dict(
            step=step,
            key=self.relative(key),
            artifacts=self.relative(artifacts),
            seconds=round(seconds, 3),
            finished=time.strftime('%Y-%m-%d %H:%M:%S'),
            **info)
        if is_main_process():
            done['files'] = {
                name: file_digest(path)
                for name, path in artifacts.items()
            }
            atomic_json_dump(done, self.done_path(step))
        barrier()
        return dict(done, artifacts=artifacts)

    def may_resume(self, step: str) -> bool:
        """Whether the partial outputs in a running step's folder were made
        from the inputs it runs with now (True for folders of older runs
        without ``started.json``)."""
        return self._may_resume.get(step, True)

    def run_step(self,
                 step: str,
                 key: dict,
                 work: Callable[[], dict],
                 resume_key: Optional[dict] = None,
                 configs: Optional[Dict[str, Dict[str, str]]] = None
                 ) -> dict:
        """Run ``work`` unless ``step`` is already done with ``key``.

        Logs one line when the step starts and one when it ends (``step k
        of n`` and its time), or one when it is skipped. An interrupt
        (:class:`KeyboardInterrupt`) comes out as
        :class:`~mmpretrain_osdtw.utils.Interrupted` naming the step.

        Args:
            step (str): One of :attr:`steps`.
            key (dict): The step's settings; a different key reruns it.
            work (Callable[[], dict]): Does the step, in
                :meth:`step_dir` (created before), and returns
                ``dict(artifacts={name: path}, **info)``; ``info`` goes into
                ``done.json`` too.
            resume_key (dict, optional): Everything the step's partial
                outputs (epoch checkpoints) depend on, when that is less
                than ``key`` (the default). Decides :meth:`may_resume`.
            configs (dict, optional): ``{key entry: flattened config}`` of
                the configs whose hashes ``key`` holds; kept in
                ``done.json`` to name what changed on a later run.

        Returns:
            dict: The step's ``done.json`` content (``artifacts`` as
            absolute paths).
        """
        where = f'step {self.steps.index(step) + 1} of {len(self.steps)}'
        if self.is_done(step, key, configs):
            self.log(f'{step}: done, skipped ({where}; {self.step_dir(step)})')
            return self.read(step)
        self.log(f'{step}: running ({where})')
        folder = self.step_dir(step)
        created = not osp.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        inputs = dict(
            key=self.relative(key if resume_key is None else resume_key))
        earlier = self.earlier_segments(step, inputs)
        self.write_started(step, inputs, earlier)
        reset_peak_memory()
        start = time.monotonic()
        try:
            result = work()
            segments = earlier + [time.monotonic() - start]
            artifacts = result.pop('artifacts')
            result.setdefault('peak_memory_mb', peak_memory_mb())
            if configs:
                result['configs'] = dict(configs)
            # an interrupt while hashing (big checkpoints) is this step's too
            done = self.mark_done(step, key, artifacts, sum(segments),
                                  **result)
        except BaseException as err:
            self.write_started(step, inputs,
                               earlier + [time.monotonic() - start])
            if isinstance(err, KeyboardInterrupt):
                if isinstance(err, Interrupted):
                    raise
                raise Interrupted(step) from None
            if created and is_main_process():
                remove_if_no_files(folder)
            raise
        self.write_started(step, inputs, [])
        runs = f', over {len(segments)} runs' if len(segments) > 1 else ''
        self.log(f'{step}: done in {format_seconds(sum(segments))}{runs} '
                 f'({where})')
        return done

    # -------------------------------------------------------- segments
    def earlier_segments(self, step: str, inputs: dict) -> List[float]:
        """The seconds of the earlier, unfinished runs of ``step`` with the
        same ``inputs`` (from its ``started.json``); sets
        :meth:`may_resume`."""
        path = osp.join(self.step_dir(step), STARTED_FILE)
        if not osp.isfile(path):
            return []  # a new folder, or one of an older version: resume
        try:
            with open(path, encoding='utf-8') as f:
                started = json.load(f)
        except (ValueError, UnicodeDecodeError):
            self._may_resume[step] = False
            return []
        if not (isinstance(started, dict) and set(started) == {
                'inputs', 'segments'
        }):  # written before the segments were recorded: inputs only
            started = dict(inputs=started, segments=[])
        self._may_resume[step] = started['inputs'] == inputs
        return list(started['segments']) if self._may_resume[step] else []

    def write_started(self, step: str, inputs: dict,
                      segments: List[float]) -> None:
        """Write ``started.json`` (rank 0, atomically): the ``inputs`` the
        step's partial outputs come from, and the ``segments`` (seconds) of
        its unfinished runs; a finished step's list is empty (its total is
        ``done.json``'s ``seconds``)."""
        if is_main_process():
            atomic_json_dump(
                dict(inputs=inputs, segments=[round(s, 3) for s in segments]),
                osp.join(self.step_dir(step), STARTED_FILE))

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(message)


def remove_if_no_files(folder: str) -> None:
    """Remove ``folder`` if no file but its ``started.json`` is left
    anywhere below it."""
    if all(not (set(files) - {STARTED_FILE})
           for _, _, files in os.walk(folder)):
        shutil.rmtree(folder, ignore_errors=True)


def format_seconds(seconds: float) -> str:
    """``'0.4 s'``, ``'41 s'``, ``'3 min 05 s'``, ``'2 h 07 min'``."""
    if seconds < 10:
        return f'{seconds:.1f} s'
    if seconds < 120:
        return f'{seconds:.0f} s'
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f'{minutes} min {secs:02d} s'
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes:02d} min'
