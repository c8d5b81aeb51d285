"""The OSDTW pipeline as one resumable run of its steps.

``python tools/train.py configs/osdtw/<dataset>/pipeline.py`` builds
:class:`StageRunner` (``runner_type='StageRunner'``, set by
``configs/_base_/osdtw_pipeline.py``; the settings are the config's
``train_cfg``). It holds the work dir's lock, then runs the steps of
:mod:`.pipeline_steps` in order, each as its own mmengine Runner (or a
pure function) writing its artifacts under ``work_dir/<step>/``, and
records each in the work dir's :class:`~.step_ledger.StepLedger`: a step
is skipped while its key (settings, config contents, the digests of what
it reads) is unchanged and its artifacts are intact; a step killed
mid-training resumes from its last epoch checkpoint. Paths in the ledger
and the checkpoints a step resumes from are resolved inside the work dir,
so a moved or copied work dir resumes the same way.

======================  ====================================================
step                    artifacts (under ``work_dir/<step>/``)
======================  ====================================================
``mgp``                 only with ``mgp`` set: epoch checkpoints of the MGP
                        (MAE) config; the last one starts the backbones of
                        every stage config that trains from its init
``stage1_pair``         only with ``stage1_pair`` set: epoch checkpoints of
                        a ``TaskPairClassifier`` (both tasks, one data pass)
``stage1_head``         epoch checkpoints, ``fisher_head.pth`` (FisherHook);
                        with ``stage1_pair``: ``head_from_pair.pth`` (the
                        pair's head-task model) and ``fisher_head.pth``
``stage1_tail``         the same for the tail task
``fisher_cross``        ``fisher_cross.pth`` (cross-task term k)
``search``              ``search.json``, ``proxy_heatmap.png`` (with
                        ``choose='validation'``: a diagnostic)
``validation_stage2_w`` only with ``choose='validation'``: one step per
``<w>``                 weight ``w`` of ``validation.weights``, the epoch
                        checkpoints of the joint model at ``w_A = w``
``validation``          only with ``choose='validation'``: every ``(C, w_A)``
                        cell assembled and scored on the validation split,
                        ``validation_choice.json``, ``validation_heatmap.png``,
                        ``cells/C<C>_w<w>.json``
``stage2``              epoch checkpoints of the weighted joint model (with
                        ``choose='validation'``: the validation step's model
                        at the chosen ``w_A``, not trained again)
``assemble``            ``assembled.pth`` + ``assembled_config.py``,
                        ``stage1_pair.pth`` + ``stage1_pair_config.py``
``refine``              epoch checkpoints (decoders only, encoder frozen)
``test``                ``report.json``, ``report.md``
======================  ====================================================
"""
import copy
import inspect
import json
import os
import os.path as osp
import time
from typing import Callable, Dict, Optional

from mmengine.config import Config
from mmengine.dist import barrier, init_dist, is_distributed, is_main_process
from mmengine.logging import MMLogger
from mmengine.runner import Runner, set_random_seed
from mmpretrain.registry import RUNNERS

from mmpretrain_osdtw.models.utils import (check_init_checkpoints,
                                           check_mgp_geometry,
                                           set_backbone_init)
from mmpretrain_osdtw.osdtw.choice import (STAGE2_MODES, TaskPairChoice,
                                           check_override)
from mmpretrain_osdtw.osdtw.validation_choice import (check_not_test_set,
                                                      check_validation_cfg,
                                                      vit_num_layers)
from mmpretrain_osdtw.utils import (InputError, Interrupted, check_int,
                                    did_you_mean, epoch_in_progress,
                                    file_digest, unreadable_checkpoint)
from ..console import CONSOLE, quiet_console
from ..launch import (enable_amp, prepare_distributed,
                      set_default_dataloader_cfg)
from .pipeline_steps import PIPELINE_STEPS, STEPS
from .quiet_console_runner import QuietConsoleRunner
from .stage_configs import MGP_STEP_CHECKPOINT, StageConfigs
from .step_ledger import StepLedger
from .work_dir import (WorkDirLock, latest_checkpoint, remove_checkpoints,
                       step_checkpoints)

__all__ = ['PIPELINE_STEPS', 'StageRunner', 'check_pipeline_settings']
FISHER_KEYS = ('chunk_size', 'dataloader', 'max_samples')
#: ``train_cfg.noise_scale`` values (see :class:`StageRunner`).
NOISE_SCALES = ('asymptotic', 'second_seed', 'displacement')
#: Stage configs that train from their initialisation (the MGP checkpoint,
#: when there is one). Assembly, refinement and the test load every weight
#: from earlier steps.
INIT_FROM_MGP = ('stage1_pair', 'stage1_head', 'stage1_tail', 'stage2')


@RUNNERS.register_module()
class StageRunner:
    """Run stage 1 (head and tail), Fisher statistics, the proxy search,
    stage 2, assembly, refinement and the final test, with resume.

    Stage configs are paths relative to the pipeline config's folder. Each
    is an ordinary training config (``tools/train.py`` trains it alone);
    the runner only sets its ``work_dir``, the chosen ``shared_depth`` /
    ``head_weight``, the checkpoints it loads and the pipeline's options.

    Args:
        cfg (Config): The pipeline config: ``work_dir``, ``launcher``,
            ``randomness``, ``log_level`` and ``train_cfg``, whose keys are
            the arguments below (``type='StageRunner'`` aside).
        stage1_head / stage1_tail (str): The stage-1 task configs.
        stage2 (str): The stage-2 joint config (``DualDecoderClassifier``).
        assemble (str): The assembly config (evaluated on the test set).
        refine (str, optional): The decoder-refinement config.
        stage1_pair (str, optional): A ``TaskPairClassifier`` config that
            trains both task models in one data pass (their Fisher
            statistics come from the task configs' ``FisherHook``).
        stage2_mode (str): ``'truncate'`` (the paper: stage 2 shares the
            whole body, its first C blocks are kept) or ``'exact'``.
        search (dict): Arguments of
            :func:`mmpretrain_osdtw.osdtw.search.run_search`.
        fisher (dict): ``chunk_size``/``dataloader`` of the cross-task
            pass and ``max_samples`` (the random subset every Fisher pass
            averages over).
        shared_depth / head_weight: Use these instead of the search's.
        stage_cfg_options (dict): Overrides of every stage config but MGP.
        per_stage_cfg_options (dict): ``{stage key: overrides}`` of single
            stage configs (e.g. ``refine``), applied after
            ``stage_cfg_options``.
        mgp (str, optional): An MGP (MAE) config, run first; its last
            checkpoint starts the backbones of :data:`INIT_FROM_MGP`.
        mgp_cfg_options (dict): Overrides of the MGP config.
        init_backbone (str, optional): An existing MGP checkpoint instead.
        noise_scale (str): The proxy's noise scale. ``'asymptotic'`` (this
            argument's default, the form of the derivation): the ``1/N`` of
            the derivation. ``'second_seed'`` (the pipeline configs'
            default, ``configs/_base_/osdtw_pipeline.py``: the one way of
            choosing that passed the converged benchmark's validation
            grids): each stage-1 task config trains again with the next seed
            (steps ``stage1_<task>_seed2``), each task's SGD noise is
            written (step ``sgd_noise``) and the search calibrates ``N`` on
            it.
            ``'displacement'``: a single-run bound of that noise, each task
            model's squared displacement from the MGP checkpoint both
            started from (needs ``mgp`` or ``init_backbone``).
        choose (str): How ``(C, w_A)`` is chosen: ``'proxy'`` (the
            default: the proxy search) or ``'validation'``: one stage-2
            model per weight of ``validation.weights`` (steps
            ``validation_stage2_w<w>``), every ``(C, w_A)`` cell assembled
            and scored on ``validation.dataset`` (step ``validation``), the
            best cell chosen (the proxy search still runs, as a diagnostic;
            ``shared_depth`` / ``head_weight`` still override). Needs
            ``stage2_mode='truncate'``.
        validation (dict, optional): The validation choice's settings
            (``dataset``, ``depths``, ``weights``, ``metric``; see
            :mod:`mmpretrain_osdtw.osdtw.validation_choice`).
        amp (bool): Train every stage with mixed precision (``--amp``).
        verbose (bool): Every step's full log on the console too.
    """

    def __init__(self,
                 cfg: Config,
                 stage1_head: str,
                 stage1_tail: str,
                 stage2: str,
                 assemble: str,
                 refine: Optional[str] = None,
                 stage1_pair: Optional[str] = None,
                 stage2_mode: str = 'truncate',
                 search: Optional[dict] = None,
                 fisher: Optional[dict] = None,
                 shared_depth: Optional[int] = None,
                 head_weight: Optional[float] = None,
                 stage_cfg_options: Optional[dict] = None,
                 per_stage_cfg_options: Optional[dict] = None,
                 mgp: Optional[str] = None,
                 mgp_cfg_options: Optional[dict] = None,
                 init_backbone: Optional[str] = None,
                 noise_scale: str = 'asymptotic',
                 choose: str = 'proxy',
                 validation: Optional[dict] = None,
                 amp: bool = False,
                 verbose: bool = False) -> None:
        if stage2_mode not in STAGE2_MODES:
            raise InputError(f'train_cfg.stage2_mode must be one of '
                             f'{STAGE2_MODES}, got {stage2_mode!r}')
        check_override(shared_depth, head_weight)
        self.cfg = cfg
        self.configs = StageConfigs(cfg)
        self.stage2_mode = stage2_mode
        self.search_cfg = dict(search or {})
        self.fisher_cfg = check_fisher_cfg(fisher)
        self.shared_depth, self.head_weight = shared_depth, head_weight
        if mgp is not None and init_backbone is not None:
            raise InputError(
                'train_cfg.mgp and train_cfg.init_backbone both set: give '
                'the MGP config (trained as the first step) or an MGP '
                'checkpoint, not both')
        if init_backbone is not None and not osp.isfile(init_backbone):
            raise InputError(f'train_cfg.init_backbone: checkpoint '
                             f'{init_backbone!r} does not exist')
        #: The checkpoint the backbones start from (the MGP step's, once it
        #: ran); None: every stage config's own initialisation.
        self.backbone_init = (
            osp.abspath(init_backbone) if init_backbone else None)
        if noise_scale not in NOISE_SCALES:
            raise InputError(f'train_cfg.noise_scale must be one of '
                             f'{NOISE_SCALES}, got {noise_scale!r}')
        if noise_scale == 'displacement' and mgp is None and \
                init_backbone is None:
            raise InputError(
                "train_cfg.noise_scale='displacement' needs the checkpoint "
                'the stage-1 models start from: train_cfg.mgp or '
                'train_cfg.init_backbone')
        self.noise_scale = noise_scale
        self.choose = choose
        self.validation_cfg = self.check_validation(choose, validation)
        self.amp, self.verbose = amp, verbose
        self.root = osp.abspath(cfg.work_dir)
        self.timestamp = time.strftime('%Y%m%d_%H%M%S')
        self.steps = tuple(i for s in STEPS for i in s.instances(self))
        self.step_names = tuple(s.name for s in self.steps)
        self.launcher = cfg.get('launcher', 'none')
        self.logger: Optional[MMLogger] = None
        self.ledger = StepLedger(self.root, self.step_names, self.log)
        self._init_digest: Optional[str] = None
        self._choice: Optional[TaskPairChoice] = None
        self._evaluations = 0  # models tested: one experiment name each

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'StageRunner':
        """Build from a pipeline config (mmengine's ``runner_type`` hook);
        ``train_cfg`` is checked first (:func:`check_pipeline_settings`)."""
        settings = check_pipeline_settings(cfg.train_cfg)
        return cls(cfg, **settings)

    # -------------------------------------------------------------- run
    def train(self) -> None:
        """Run every step (those already done are skipped)."""
        self.setup()
        lock = WorkDirLock(self.root) if is_main_process() else None
        if lock is not None:
            lock.acquire()
        try:
            self.run()
        finally:
            if lock is not None:
                lock.release()

    def setup(self) -> None:
        """Processes, random seed and the pipeline's log file."""
        if self.launcher != 'none' and not is_distributed():
            dist_cfg = (self.cfg.get('env_cfg') or {}).get('dist_cfg') or {}
            init_dist(self.launcher, **dist_cfg)
        randomness = self.cfg.get('randomness') or {}
        if randomness.get('seed') is not None:
            set_random_seed(**randomness)
        log_dir = osp.join(self.root, 'logs')
        os.makedirs(log_dir, exist_ok=True)
        self.logger = MMLogger.get_instance(
            f'osdtw_pipeline_{self.timestamp}',
            log_file=osp.join(log_dir, f'{self.timestamp}.log'),
            log_level=self.cfg.get('log_level', 'INFO'))
        if not self.verbose:
            quiet_console(self.logger)
        if is_main_process():
            self.cfg.dump(osp.join(log_dir, f'{self.timestamp}_config.py'))

    def run(self) -> None:
        self.log(f'{len(self.steps)} steps in {self.root}, one folder each; '
                 "a step's log: <step>/<timestamp>/<timestamp>.log")
        self.check_backbone_handover(mgp_pending='mgp' in self.configs)
        done: Dict[str, dict] = {}
        for step in self.steps:
            done[step.name] = self.ledger.run_step(
                step.name,
                step.key(self, done),
                lambda: step.work(self, done),
                resume_key=step.resume_key(self, done),
                configs={n: self.configs.flat(n)
                         for n in step.configs(self)})
            step.after(self, done)
        self.log_report(done['test']['artifacts'])

    def log(self, message: str) -> None:
        """``[OSDTW] message`` to the pipeline's log and the console."""
        if self.logger is None:
            print(f'[OSDTW] {message}', flush=True)
        else:
            self.logger.info(f'[OSDTW] {message}', extra=CONSOLE)

    def log_report(self, report: Dict[str, str]) -> None:
        with open(report['markdown'], encoding='utf-8') as f:
            self.log('final report\n' + f.read())
        self.log(f"report: {report['markdown']} and {report['json']}; logs: "
                 f'{self.root}/<step>/<timestamp>/<timestamp>.log, the '
                 f"pipeline's: {self.logger.log_file}")

    # ------------------------------------------------- values of steps
    def step_dir(self, step: str) -> str:
        return self.ledger.step_dir(step)

    def choice(self, done: Dict[str, dict]) -> TaskPairChoice:
        """The search's ``(C, w_A)`` (the validation split's with
        ``choose='validation'``) with the user's override."""
        if self._choice is None:
            if self.choose == 'validation':
                self._choice = TaskPairChoice.from_validation(
                    done['validation']['artifacts']['choice'],
                    self.shared_depth, self.head_weight)
            else:
                self._choice = TaskPairChoice.from_search(
                    done['search']['artifacts']['search'], self.shared_depth,
                    self.head_weight)
        return self._choice

    def proxy_choice(self, done: Dict[str, dict]) -> TaskPairChoice:
        """The proxy search's own ``(C, w_A)`` (no override)."""
        return TaskPairChoice.from_search(
            done['search']['artifacts']['search'])

    def search_num_layers(self, done: Dict[str, dict]) -> int:
        """``L`` of the ViT, from ``search.json``."""
        return self.proxy_choice(done).num_layers

    def choice_info(self, done: Dict[str, dict]) -> dict:
        """How the choice was made, for the report and the test step's key:
        empty with ``choose='proxy'`` (the report as it always was), else
        ``{'choice_info': {...}}`` (the validation split's and the proxy's
        choices, the metric and the chosen score)."""
        if self.choose != 'validation':
            return {}
        with open(done['validation']['artifacts']['choice'],
                  encoding='utf-8') as f:
            result = json.load(f)
        proxy = self.proxy_choice(done)
        chosen = result['chosen']
        return dict(choice_info=dict(
            by='validation',
            metric=result['metric'],
            score=chosen['score'],
            validation=dict(C=chosen['C'], w_A=chosen['w_A']),
            proxy=dict(C=proxy.shared_depth, w_A=proxy.head_weight),
            override=dict(shared_depth=self.shared_depth,
                          head_weight=self.head_weight),
            cells=len(result['cells'])))

    def check_validation(self, choose: str,
                         validation: Optional[dict]) -> dict:
        """``train_cfg.choose``/``validation`` checked before anything
        trains: the keys, the depths against the stage-2 ViT's ``L``, the
        stage-2 mode, and a validation set that is no test set."""
        if choose != 'validation':
            return check_validation_cfg(choose, validation)
        if self.stage2_mode != 'truncate':
            raise InputError(
                "train_cfg.choose='validation' needs train_cfg.stage2_mode="
                f"'truncate' (one stage-2 model per w_A serves every C), got "
                f'{self.stage2_mode!r}')
        settings = check_validation_cfg(
            choose, validation,
            vit_num_layers(self.configs.load('stage2').get('model')))
        check_not_test_set(
            settings['dataset'], {
                name: (self.configs.load(name).get('test_dataloader')
                       or {}).get('dataset')
                for name in self.configs.paths if name != 'mgp'
            })
        return settings

    def init_key(self) -> dict:
        """The backbone init checkpoint's SHA-256 in the keys of the steps
        that train from it (empty without one)."""
        if self.backbone_init is None:
            return {}
        if self._init_digest is None:
            self._init_digest = (self.ledger.digest('mgp', 'checkpoint')
                                 if 'mgp' in self.configs else
                                 file_digest(self.backbone_init)['sha256'])
        return dict(backbone_init=self._init_digest)

    def check_backbone_handover(self, mgp_pending: bool = False) -> None:
        """Before anything trains: every stage config of
        :data:`INIT_FROM_MGP` has backbones to start from the MGP
        checkpoint, which exists once the MGP step ran."""
        if self.backbone_init is None and not mgp_pending:
            return
        if mgp_pending:
            check_mgp_geometry(self.configs.load('mgp'))
        init = MGP_STEP_CHECKPOINT if mgp_pending else self.backbone_init
        for name in INIT_FROM_MGP:
            if name not in self.configs:
                continue
            cfg = self.configs.load(name)
            try:
                set_backbone_init(cfg.model, init)
            except KeyError as err:
                raise InputError(f'{self.configs.paths[name]}: '
                                 f'{err.args[0]}; it cannot start from the '
                                 'MGP checkpoint')
            check_mgp_geometry(cfg)
            if not mgp_pending:
                check_init_checkpoints(cfg)

    # --------------------------------------------------- stage configs
    def stage_config(self, name: str, step: str,
                     overrides: Optional[dict] = None) -> Config:
        """Stage config ``name`` as step ``step`` runs it: the pipeline's
        options, the backbone init, ``overrides``, the Fisher subset, AMP,
        and ``work_dir/<step>``."""
        cfg = self.configs.load_with_init(name, self.backbone_init)
        if overrides:
            cfg.merge_from_dict(copy.deepcopy(overrides))
        if name.startswith('stage1_') and 'max_samples' in self.fisher_cfg:
            for hook in cfg.get('custom_hooks', []):
                if hook.get('type') == 'FisherHook':
                    hook['max_samples'] = self.fisher_cfg['max_samples']
        if self.amp and cfg.get('optim_wrapper') is not None:
            enable_amp(cfg)
        cfg.work_dir = self.step_dir(step)
        cfg.experiment_name = f'{step}_{self.timestamp}'
        set_default_dataloader_cfg(cfg)
        prepare_distributed(cfg, self.launcher)
        return cfg

    @property
    def runner_class(self) -> type:
        """Every step's Runner: quiet unless ``verbose``."""
        return Runner if self.verbose else QuietConsoleRunner

    def train_stage(self, name: str, step: str,
                    overrides: Optional[dict] = None,
                    edit: Optional[Callable[[Config], None]] = None) -> str:
        """Train a stage config (resuming if it was interrupted); return
        its final checkpoint, inside ``work_dir/<step>``. ``edit`` changes
        the config in place before it trains."""
        cfg = self.stage_config(name, step, overrides)
        if edit is not None:
            edit(cfg)
        resume_from = self.resumable_checkpoint(step, cfg.work_dir)
        if resume_from is not None:
            cfg.resume, cfg.load_from = True, resume_from
        runner = self.runner_class.from_cfg(cfg)
        self.log(f'{step}: log in {runner.logger.log_file}')
        try:
            runner.train()
        except KeyboardInterrupt:
            raise Interrupted(step, epoch_in_progress(runner)) from None
        ckpt = latest_checkpoint(cfg.work_dir)
        if ckpt is None:
            raise RuntimeError(f'{step}: training wrote no checkpoint in '
                               f'{cfg.work_dir} (is CheckpointHook on?)')
        return ckpt

    def resumable_checkpoint(self, step: str, folder: str) -> Optional[str]:
        """The newest whole checkpoint of a step folder made from the
        step's current inputs; an unreadable one (a killed save) is named
        and the next older one tried; None starts afresh."""
        if not self.ledger.may_resume(step):
            removed = remove_checkpoints(folder) if is_main_process() else []
            barrier()
            if removed:
                self.log(f'{step}: the checkpoints in {folder} come from '
                         'other inputs; removed, training starts afresh')
            return None
        for ckpt in step_checkpoints(folder):
            reason = unreadable_checkpoint(ckpt)
            if reason is None:
                return ckpt
            self.log(f'{step}: checkpoint {ckpt} is {reason}; not resuming '
                     'from it')
        return None

    def test_model(self,
                   name: str,
                   step: str,
                   checkpoint: str,
                   overrides: Optional[dict] = None,
                   edit: Optional[Callable[[Config], None]] = None) -> dict:
        """Evaluate ``checkpoint`` with a stage config's test settings (each
        evaluation under its own experiment name: mmengine warns about
        reused logger and scope names). ``edit`` changes the config in
        place first (e.g. another test set)."""
        cfg = self.stage_config(name, step, overrides)
        if edit is not None:
            edit(cfg)
        cfg.load_from, cfg.resume = checkpoint, False
        self._evaluations += 1
        cfg.experiment_name = f'{step}{self._evaluations}_{self.timestamp}'
        return self.runner_class.from_cfg(cfg).test()


def check_fisher_cfg(fisher: Optional[dict]) -> dict:
    """``train_cfg.fisher``, its keys and ``max_samples`` checked."""
    fisher = dict(fisher or {})
    unknown = sorted(set(fisher) - set(FISHER_KEYS))
    if unknown:
        raise InputError(f'train_cfg.fisher has an unknown key '
                         f'{unknown[0]!r}; known: {FISHER_KEYS}')
    if 'max_samples' in fisher:
        check_int('train_cfg.fisher.max_samples', fisher['max_samples'], 1)
    return fisher


def check_pipeline_settings(train_cfg: dict) -> dict:
    """A pipeline config's ``train_cfg`` as :class:`StageRunner`'s
    arguments; an unknown or missing key is one line.

    Example:
        >>> check_pipeline_settings(dict(type='StageRunner', shard_depth=2))
        Traceback (most recent call last):
        ...
        mmpretrain_osdtw.utils.errors.InputError: train_cfg.shard_depth is \
not a setting of the OSDTW pipeline (did you mean 'shared_depth'?)
    """
    params = inspect.signature(StageRunner.__init__).parameters
    known = [p for p in params if p not in ('self', 'cfg')]
    settings = {k: v for k, v in dict(train_cfg).items() if k != 'type'}
    for key in settings:
        if key not in known:
            raise InputError(f'train_cfg.{key} is not a setting of the '
                             f'OSDTW pipeline{did_you_mean(key, known)}')
    missing = [p for p in known if params[p].default is inspect.Parameter.empty
               and p not in settings]
    if missing:
        raise InputError(f'train_cfg.{missing[0]} is missing: the pipeline '
                         'needs the stage config it names')
    check_validation_cfg(settings.get('choose', 'proxy'),
                         settings.get('validation'))
    return settings
