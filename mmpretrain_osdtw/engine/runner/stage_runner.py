"""The OSDTW pipeline as one resumable training loop.

``python tools/train.py configs/osdtw/<dataset>/pipeline.py`` builds an
outer mmengine Runner whose ``train_cfg`` is :class:`StageRunner`. The loop
runs the steps below, each as its own Runner (or pure function) writing its
artifacts under ``work_dir/<step>/``, and records it in the work dir's
:class:`~.step_ledger.StepLedger`: a step is finished when its ``done.json``
exists (written atomically, last) and every artifact it lists exists;
finished steps are skipped on rerun, and a step that was killed
mid-training resumes from its last epoch checkpoint. When a step has to run
again (its settings changed, or an artifact was removed), every later step
runs again too. ``done.json`` stores the paths under the pipeline's work
dir relative to it, so a moved or copied work dir resumes the same way.

The search's (or the user's) choice of ``C``/``w_A`` is one
:class:`~mmpretrain_osdtw.osdtw.choice.TaskPairChoice`, given to every later
step; the report is written by
:func:`~mmpretrain_osdtw.evaluation.write_pipeline_report`.

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
``search``              ``search.json``, ``proxy_heatmap.png``
``stage2``              epoch checkpoints of the weighted joint model
``assemble``            ``assembled.pth`` + ``assembled_config.py``,
                        ``stage1_pair.pth`` + ``stage1_pair_config.py``
``refine``              epoch checkpoints (decoders only, encoder frozen)
``test``                ``report.json``, ``report.md``
======================  ====================================================
"""
import copy
import glob
import hashlib
import json
import os
import os.path as osp
import re
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.dist import barrier, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, Runner, find_latest_checkpoint
from mmpretrain.registry import LOOPS

from mmpretrain_osdtw.apis import (build_model, cross_fisher_from_configs,
                                   load_config, prepare_distributed,
                                   set_default_dataloader_cfg,
                                   task_fisher_from_config)
from mmpretrain_osdtw.evaluation import (ASSEMBLED_ROW, PAIR_ROW, REFINED_ROW,
                                         STAGE1_ROW, STAGE2_ROW,
                                         write_pipeline_report)
from mmpretrain_osdtw.models.classifiers import split_task_pair_checkpoint
from mmpretrain_osdtw.osdtw import plot_heatmap, run_search, save_search_json
from mmpretrain_osdtw.osdtw.assemble import (assemble_from_config,
                                             load_stage1_decoders,
                                             save_model_checkpoint)
from mmpretrain_osdtw.osdtw.choice import (STAGE2_MODES, TaskPairChoice,
                                           check_override)
from mmpretrain_osdtw.models.utils import (check_init_checkpoints,
                                           check_mgp_geometry,
                                           set_backbone_init)
from mmpretrain_osdtw.utils import (InputError, Interrupted, check_int,
                                    epoch_in_progress, unreadable_checkpoint)
from .quiet_console_runner import CONSOLE, QuietConsoleRunner
from .step_ledger import StepLedger

PIPELINE_STEPS = ('mgp', 'stage1_pair', 'stage1_head', 'stage1_tail',
                  'fisher_cross', 'search', 'stage2', 'assemble', 'refine',
                  'test')
FISHER_KEYS = ('chunk_size', 'dataloader', 'max_samples')
#: Steps that run only when their config is given.
OPTIONAL_STEPS = ('mgp', 'stage1_pair', 'refine')
#: Stage configs that train from their initialisation (the MGP checkpoint,
#: when there is one): a new init checkpoint retrains them from scratch.
#: Assembly, refinement and the test load every weight from earlier steps.
INIT_FROM_MGP = ('stage1_pair', 'stage1_head', 'stage1_tail', 'stage2')


def checkpoint_number(path: str) -> int:
    """The ``N`` of ``epoch_N.pth`` / ``iter_N.pth`` (-1 for other names)."""
    match = re.search(r'_(\d+)\.pth$', osp.basename(path))
    return int(match.group(1)) if match else -1


@LOOPS.register_module()
class StageRunner(BaseLoop):
    """Run stage 1 (head and tail), Fisher statistics, the proxy search,
    stage 2, assembly, refinement and the final test, with resume.

    Stage configs are paths relative to the pipeline config's folder. Every
    stage config is an ordinary training config (it can be trained alone
    with ``tools/train.py``); the loop only sets its ``work_dir``, the
    chosen ``shared_depth``/``head_weight`` and the checkpoints it loads.

    Args:
        runner (Runner): The outer runner (its model is not trained).
        dataloader: Unused (the stages build their own).
        stage1_head (str): Stage-1 head-task config.
        stage1_tail (str): Stage-1 tail-task config.
        stage2 (str): Stage-2 joint config (a ``DualDecoderClassifier``).
        assemble (str): Stage-3 assembly config (a ``DualDecoderClassifier``
            evaluated on the test set).
        refine (str, optional): Decoder-refinement config; None skips the
            refinement.
        stage1_pair (str, optional): A ``TaskPairClassifier`` config that
            trains both stage-1 task models in one data pass (the same
            training as the two task configs when their recipes agree, see
            the class); the task models are then split off its checkpoint
            and their statistics written with the FisherHook settings of
            ``stage1_head``/``stage1_tail``, which stay needed. None (the
            default) trains the two task configs one after the other.
        stage2_mode (str): ``'truncate'``: stage 2 shares the whole body
            (``shared_depth = L``) and its first C blocks are kept (the
            paper); ``'exact'``: stage 2 shares exactly C blocks, its
            decoders initialised from stage 1. Defaults to ``'truncate'``.
        search (dict): Arguments of
            :func:`mmpretrain_osdtw.osdtw.search.run_search` (``variant``,
            ``mismatch``, ``w_step``, ``w_min``, ``w_max``).
        fisher (dict): Fisher settings: ``chunk_size`` and ``dataloader``
            of the cross-task pass, and ``max_samples`` (average the
            statistics over a random subset of this many training images,
            see :class:`~mmpretrain_osdtw.engine.hooks.FisherHook`), which
            the loop also gives to the stage-1 configs' ``FisherHook``.
        shared_depth (int, optional): Use this C instead of the search's.
        head_weight (float, optional): Use this w_A instead of the
            search's.
        stage_cfg_options (dict, optional): Config overrides applied to
            every stage config (e.g. ``{'train_cfg.max_epochs': 2}``), not
            to ``mgp``.
        mgp (str, optional): An MGP (MMPretrain ``MAE``) config, run as the
            first step (resumable like the others); its last checkpoint
            starts every backbone of the stage configs in
            :data:`INIT_FROM_MGP` (``set_backbone_init``). None (the
            default): no MGP step.
        mgp_cfg_options (dict, optional): Config overrides of the ``mgp``
            config (e.g. ``{'train_cfg.max_epochs': 2}``).
        init_backbone (str, optional): An existing MGP checkpoint to start
            those backbones from instead (no MGP step). Not with ``mgp``.
    """

    def __init__(self,
                 runner: Runner,
                 dataloader,
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
                 mgp: Optional[str] = None,
                 mgp_cfg_options: Optional[dict] = None,
                 init_backbone: Optional[str] = None) -> None:
        self._runner = runner
        self.dataloader = dataloader
        if stage2_mode not in STAGE2_MODES:
            raise ValueError(f'stage2_mode must be one of {STAGE2_MODES}, '
                             f'got {stage2_mode!r}')
        config_dir = osp.dirname(osp.abspath(runner.cfg.filename or '.'))
        self.configs = {
            name: osp.join(config_dir, path)
            for name, path in dict(
                stage1_head=stage1_head,
                stage1_tail=stage1_tail,
                stage2=stage2,
                assemble=assemble,
                refine=refine,
                stage1_pair=stage1_pair,
                mgp=mgp).items() if path is not None
        }
        for name, path in self.configs.items():
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'StageRunner: the {name} config {path!r} does not exist')
        check_override(shared_depth, head_weight)
        self.stage2_mode = stage2_mode
        self.search_cfg = dict(search or {})
        self.fisher_cfg = dict(fisher or {})
        unknown = sorted(set(self.fisher_cfg) - set(FISHER_KEYS))
        if unknown:
            raise ValueError(f'train_cfg.fisher has an unknown key '
                             f'{unknown[0]!r}; known: {FISHER_KEYS}')
        if 'max_samples' in self.fisher_cfg:
            check_int('train_cfg.fisher.max_samples',
                      self.fisher_cfg['max_samples'], 1)
        self.shared_depth = shared_depth
        self.head_weight = head_weight
        self.stage_cfg_options = dict(stage_cfg_options or {})
        self.mgp_cfg_options = dict(mgp_cfg_options or {})
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
        self.root = osp.abspath(runner.work_dir)
        self.ledger = StepLedger(self.root, self.steps, self.log)

    @property
    def steps(self) -> tuple:
        """The steps this pipeline runs, in order (the optional ones
        whose config is given)."""
        return tuple(step for step in PIPELINE_STEPS
                     if step not in OPTIONAL_STEPS or step in self.configs)

    # mmengine's Runner.train() reads these from its train loop.
    @property
    def iter(self) -> int:
        return 0

    @property
    def max_iters(self) -> int:
        return 0

    @property
    def epoch(self) -> int:
        return 0

    @property
    def max_epochs(self) -> int:
        return 0

    # ------------------------------------------------------------------
    # step bookkeeping (the ledger)
    def step_dir(self, step: str) -> str:
        return self.ledger.step_dir(step)

    def run_step(self, step: str, key: dict, work, **kwargs) -> dict:
        """Run ``work`` unless ``step`` is already done with ``key`` (see
        :meth:`StepLedger.run_step`)."""
        return self.ledger.run_step(step, key, work, **kwargs)

    def log(self, message: str) -> None:
        """Log ``[OSDTW] message`` to the pipeline's log file and the
        console."""
        self._runner.logger.info(f'[OSDTW] {message}', extra=CONSOLE)

    @property
    def runner_class(self) -> type:
        """The class of every step's Runner: :class:`QuietConsoleRunner`
        when the pipeline's runner is one (its console shows the step lines
        only), else mmengine's Runner (everything on the console)."""
        if isinstance(self._runner, QuietConsoleRunner):
            return QuietConsoleRunner
        return Runner

    # ------------------------------------------------------------------
    # configs and sub-runners
    def stage_config(self,
                     name: str,
                     step: str,
                     overrides: Optional[dict] = None) -> Config:
        """Load a stage config, pointed at ``work_dir/<step>``; every
        backbone starts from :attr:`backbone_init` when it is set (it
        replaces the config's own init checkpoint, also in the models that
        then load all their weights from earlier steps)."""
        cfg = self.load_stage_config(name)
        if self.backbone_init is not None and name != 'mgp':
            set_backbone_init(cfg.model, self.backbone_init)
        if overrides:
            cfg.merge_from_dict(overrides)
        if name.startswith('stage1_') and 'max_samples' in self.fisher_cfg:
            for hook in cfg.get('custom_hooks', []):
                if hook.get('type') == 'FisherHook':
                    hook['max_samples'] = self.fisher_cfg['max_samples']
        outer = self._runner.cfg
        if outer.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        cfg.work_dir = self.step_dir(step)
        cfg.experiment_name = f'{step}_{self._runner.timestamp}'
        set_default_dataloader_cfg(cfg)
        prepare_distributed(cfg, self._runner.launcher)
        return cfg

    def load_stage_config(self, name: str) -> Config:
        """A stage config with its options (``mgp_cfg_options`` for the
        MGP config, ``stage_cfg_options`` for the others), nothing else."""
        cfg = load_config(self.configs[name])
        options = (
            self.mgp_cfg_options if name == 'mgp' else self.stage_cfg_options)
        if options:
            cfg.merge_from_dict(copy.deepcopy(options))
        return cfg

    def train_stage(self,
                    name: str,
                    step: str,
                    overrides: Optional[dict] = None) -> str:
        """Train one stage config (resuming if it was interrupted) and
        return its final checkpoint."""
        cfg = self.stage_config(name, step, overrides)
        resume_from = self.resumable_checkpoint(step, cfg.work_dir)
        if resume_from is not None:
            cfg.resume = True
            cfg.load_from = resume_from
        runner = self.runner_class.from_cfg(cfg)
        self.log(f'{step}: log in {runner.logger.log_file}')
        try:
            runner.train()
        except KeyboardInterrupt:
            raise Interrupted(step, epoch_in_progress(runner)) from None
        ckpt = find_latest_checkpoint(cfg.work_dir)
        if ckpt is None:
            raise RuntimeError(f'{step}: training wrote no checkpoint in '
                               f'{cfg.work_dir} (is CheckpointHook on?)')
        return ckpt

    def resumable_checkpoint(self, step: str, work_dir: str) -> Optional[str]:
        """The newest whole epoch/iteration checkpoint of ``work_dir``.

        mmengine writes its checkpoints in place, so a killed save leaves a
        truncated file: each unreadable one is logged (named, with the
        reason) and the next older one is tried; None starts afresh.
        """
        if not self.ledger.may_resume(step):
            self.discard_checkpoints(step, work_dir)
            return None
        latest = None
        if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
            latest = find_latest_checkpoint(work_dir)
        candidates = sorted(
            glob.glob(osp.join(work_dir, 'epoch_*.pth')) +
            glob.glob(osp.join(work_dir, 'iter_*.pth')),
            key=checkpoint_number,
            reverse=True)
        if (latest is not None and osp.isfile(latest)
                and osp.abspath(latest) not in candidates):
            candidates.insert(0, osp.abspath(latest))
        for ckpt in candidates:
            reason = unreadable_checkpoint(ckpt)
            if reason is None:
                return ckpt
            self.log(f'{step}: checkpoint {ckpt} is {reason}; not resuming '
                     'from it')
        return None

    def discard_checkpoints(self, step: str, work_dir: str) -> None:
        """Remove the epoch checkpoints of a run with other inputs (another
        key, or an earlier step's files changed): training starts afresh."""
        old = (glob.glob(osp.join(work_dir, 'epoch_*.pth')) +
               glob.glob(osp.join(work_dir, 'iter_*.pth')))
        if old:
            self.log(f'{step}: the checkpoints in {work_dir} come from other '
                     'inputs; removed, training starts afresh')
        if is_main_process():
            for path in old + [osp.join(work_dir, 'last_checkpoint')]:
                if osp.isfile(path):
                    os.remove(path)
        barrier()

    def test_model(self,
                   name: str,
                   step: str,
                   checkpoint: str,
                   overrides: Optional[dict] = None) -> dict:
        """Evaluate ``checkpoint`` with a stage config's test settings."""
        cfg = self.stage_config(name, step, overrides)
        cfg.load_from = checkpoint
        cfg.resume = False
        return self.runner_class.from_cfg(cfg).test()

    # ------------------------------------------------------------------
    # the steps
    def run(self):
        self.log(f'{len(self.steps)} steps in {self.root}, one folder '
                 "each; a step's log: <step>/<timestamp>/<timestamp>.log")
        if 'mgp' in self.configs:
            self.check_backbone_handover(mgp_pending=True)
            self.backbone_init = self.step_mgp()['artifacts']['checkpoint']
        if self.backbone_init is not None:
            self.check_backbone_handover()
        pair = None
        if 'stage1_pair' in self.configs:
            pair = self.step_stage1_pair()['artifacts']['checkpoint']
        stage1 = {
            task: self.step_stage1(task, pair)['artifacts']
            for task in ('head', 'tail')
        }
        cross = self.step_fisher_cross(stage1)
        choice = self.step_search(stage1, cross)
        stage2 = self.step_stage2(stage1, choice)
        assembled = self.step_assemble(stage1, stage2, choice)
        refined = self.step_refine(assembled, choice)
        self.step_test(stage1, stage2, assembled, refined, choice)
        model = self._runner.model
        return model.module if is_model_wrapper(model) else model

    # ------------------------------------------------------------------
    # MGP and the backbone hand-over
    def step_mgp(self) -> dict:
        """Train the MGP config (resuming if it was interrupted). Its key is
        the config's content with ``mgp_cfg_options``: an edited MGP config
        trains again, from scratch, and so does every later step."""
        step = 'mgp'

        def work():
            return dict(
                artifacts=dict(checkpoint=self.train_stage(step, step)))

        return self.run_step(step, self.mgp_key(), work)

    def mgp_key(self) -> dict:
        """The MGP step's settings: its config path and a hash of its
        content (``mgp_cfg_options`` applied)."""
        cfg = self.load_stage_config('mgp')
        text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
        return dict(
            config=self.configs['mgp'],
            content=hashlib.sha1(text.encode()).hexdigest())

    def check_backbone_handover(self, mgp_pending: bool = False) -> None:
        """Before anything trains: the MGP config's geometry, and every
        stage config of :data:`INIT_FROM_MGP` has backbones to start from
        the checkpoint, which exists (once the MGP step ran).

        Args:
            mgp_pending (bool): The MGP step has not run yet: check its
                config and the stages' backbones, not the checkpoint.
        """
        if mgp_pending:
            check_mgp_geometry(self.load_stage_config('mgp'))
        for name in INIT_FROM_MGP:
            if name not in self.configs:
                continue
            cfg = self.load_stage_config(name)
            try:
                set_backbone_init(cfg.model, self.backbone_init or 'mgp.pth')
            except KeyError as err:
                raise InputError(f'{self.configs[name]}: {err.args[0]}; it '
                                 'cannot start from the MGP checkpoint')
            check_mgp_geometry(cfg)
            if not mgp_pending:
                check_init_checkpoints(cfg)

    @property
    def init_key(self) -> dict:
        """The backbone init checkpoint in the keys of the steps that
        train from it: its path, size and modification time (a new MGP
        checkpoint runs them again); empty without one."""
        if self.backbone_init is None:
            return {}
        stat = os.stat(self.backbone_init)
        return dict(
            backbone_init=dict(
                checkpoint=self.backbone_init,
                size=stat.st_size,
                mtime=stat.st_mtime))

    def step_stage1_pair(self) -> dict:
        step = 'stage1_pair'

        def work():
            return dict(
                artifacts=dict(checkpoint=self.train_stage(step, step)))

        return self.run_step(step,
                             dict(config=self.configs[step], **self.init_key),
                             work)

    def step_stage1_from_pair(self, task: str, pair_ckpt: str) -> dict:
        """The task model of the pair's checkpoint, and its statistics."""
        step = f'stage1_{task}'

        def work():
            ckpt = osp.join(self.step_dir(step), f'{task}_from_pair.pth')
            if is_main_process():
                split_task_pair_checkpoint(pair_ckpt, task, ckpt)
            barrier()
            fisher = task_fisher_from_config(
                self.stage_config(step, step), ckpt, self.step_dir(step),
                self._runner.logger)
            return dict(artifacts=dict(checkpoint=ckpt, fisher=fisher))

        return self.run_step(step, self.stage1_key(step, pair=pair_ckpt),
                             work)

    def step_stage1(self, task: str, pair_ckpt: Optional[str] = None) -> dict:
        if pair_ckpt is not None:
            return self.step_stage1_from_pair(task, pair_ckpt)
        step = f'stage1_{task}'

        def work():
            ckpt = self.train_stage(step, step)
            fisher = osp.join(self.step_dir(step), f'fisher_{task}.pth')
            if not osp.isfile(fisher):
                raise RuntimeError(
                    f'{step}: {fisher} was not written: the stage-1 config '
                    f'{self.configs[step]} needs FisherHook in custom_hooks')
            return dict(artifacts=dict(checkpoint=ckpt, fisher=fisher))

        return self.run_step(
            step,
            self.stage1_key(step),
            work,
            resume_key=dict(config=self.configs[step], **self.init_key))

    def stage1_key(self, step: str, **extra) -> dict:
        """A stage-1 task step's settings: its config, ``extra`` and the
        Fisher subset size when one is set."""
        key = dict(config=self.configs[step], **extra, **self.init_key)
        if 'max_samples' in self.fisher_cfg:
            key['fisher_max_samples'] = self.fisher_cfg['max_samples']
        return key

    def step_fisher_cross(self, stage1: dict) -> Dict[str, str]:
        step = 'fisher_cross'
        out = osp.join(self.step_dir(step), 'fisher_cross.pth')

        def work():
            cross_fisher_from_configs(
                {
                    task: (self.stage_config(f'stage1_{task}',
                                             step), stage1[task]['checkpoint'])
                    for task in ('head', 'tail')
                },
                out_file=out,
                **self.fisher_cfg)
            return dict(artifacts=dict(cross=out))

        key = dict(
            fisher=self.fisher_cfg,
            **{
                f'stage1_{t}': stage1[t]['checkpoint']
                for t in ('head', 'tail')
            })
        return self.run_step(step, key, work)['artifacts']

    def step_search(self, stage1: dict,
                    cross: Dict[str, str]) -> TaskPairChoice:
        """Search ``(C, w_A)``; the choice, with the user's override."""
        step = 'search'
        out_json = osp.join(self.step_dir(step), 'search.json')
        out_png = osp.join(self.step_dir(step), 'proxy_heatmap.png')

        def work():
            if is_main_process():
                result = run_search(stage1['head']['fisher'],
                                    stage1['tail']['fisher'], cross['cross'],
                                    **self.search_cfg)
                save_search_json(result, out_json)
                plot_heatmap(result, out_png)
            barrier()
            return dict(artifacts=dict(search=out_json, heatmap=out_png))

        self.run_step(step, dict(search=self.search_cfg), work)
        choice = TaskPairChoice.from_search(out_json, self.shared_depth,
                                            self.head_weight)
        self.log(choice.describe())
        return choice

    def step_stage2(self, stage1: dict, choice: TaskPairChoice) -> dict:
        step = 'stage2'
        train_depth = choice.stage2_depth(self.stage2_mode)
        key = dict(
            mode=self.stage2_mode,
            shared_depth=train_depth,
            head_weight=choice.head_weight,
            **self.init_key)

        def work():
            if choice.shared_depth == 0:
                self.log('stage2: C=0 shares nothing, no joint training')
                return dict(artifacts={}, skipped=True)
            overrides = choice.model_overrides(train_depth)
            if self.stage2_mode == 'exact':
                overrides['load_from'] = self.stage2_init(stage1, overrides)
            ckpt = self.train_stage('stage2', step, overrides)
            return dict(artifacts=dict(checkpoint=ckpt))

        return self.run_step(step, key, work)

    def stage2_init(self, stage1: dict, overrides: dict) -> str:
        """``exact`` mode: a stage-2 start whose decoders and heads come
        from stage 1 (the encoder keeps the config's initialisation)."""
        path = osp.join(self.step_dir('stage2'), 'init_from_stage1.pth')
        if is_main_process():
            cfg = self.stage_config('stage2', 'stage2', overrides)
            model = build_model(cfg)
            model.init_weights()
            load_stage1_decoders(
                model, {t: stage1[t]['checkpoint']
                        for t in ('head', 'tail')})
            save_model_checkpoint(model, path, dict(source='stage1'))
        barrier()
        return path

    def build_assembled(self, stage1: dict, stage2_ckpt: Optional[str],
                        depth: int, weight: float, name: str) -> dict:
        """Assemble one model, save it and its resolved config."""
        ckpt = osp.join(self.step_dir('assemble'), f'{name}.pth')
        cfg_path = osp.join(self.step_dir('assemble'), f'{name}_config.py')
        if is_main_process():
            assemble_from_config(
                self.stage_config('assemble', 'assemble'),
                {t: stage1[t]['checkpoint']
                 for t in ('head', 'tail')}, stage2_ckpt, depth, weight, ckpt,
                cfg_path)
        barrier()
        return dict(checkpoint=ckpt, config=cfg_path)

    def step_assemble(self, stage1: dict, stage2: dict,
                      choice: TaskPairChoice) -> dict:
        step = 'assemble'
        depth, weight = choice.shared_depth, choice.head_weight

        def work():
            stage2_ckpt = stage2['artifacts'].get('checkpoint')
            osdtw = self.build_assembled(stage1, stage2_ckpt, depth, weight,
                                         'assembled')
            pair = self.build_assembled(stage1, None, 0, weight, 'stage1_pair')
            return dict(
                artifacts=dict(
                    checkpoint=osdtw['checkpoint'],
                    config=osdtw['config'],
                    pair_checkpoint=pair['checkpoint'],
                    pair_config=pair['config']),
                shared_depth=depth,
                head_weight=weight)

        key = dict(
            stage2=stage2.get('key'), shared_depth=depth, head_weight=weight)
        return self.run_step(step, key, work)

    def step_refine(self, assembled: dict,
                    choice: TaskPairChoice) -> Optional[dict]:
        if 'refine' not in self.configs:
            return None
        step = 'refine'
        overrides = dict(
            choice.model_overrides(),
            load_from=assembled['artifacts']['checkpoint'])

        def work():
            ckpt = self.train_stage('refine', step, overrides)
            return dict(artifacts=dict(checkpoint=ckpt))

        return self.run_step(step, dict(overrides=overrides), work)

    def step_test(self, stage1: dict, stage2: dict, assembled: dict,
                  refined: Optional[dict], choice: TaskPairChoice) -> dict:
        step = 'test'
        depth = choice.shared_depth
        models = []
        if refined is not None:
            models.append((REFINED_ROW, 'refine',
                           refined['artifacts']['checkpoint'], depth))
        models.append((ASSEMBLED_ROW, 'assemble',
                       assembled['artifacts']['checkpoint'], depth))
        if stage2['artifacts'].get('checkpoint'):
            models.append((STAGE2_ROW, 'stage2',
                           stage2['artifacts']['checkpoint'],
                           choice.stage2_depth(self.stage2_mode)))
        models.append((PAIR_ROW, 'assemble',
                       assembled['artifacts']['pair_checkpoint'], 0))
        for task in ('head', 'tail'):
            models.append((STAGE1_ROW.format(task=task), f'stage1_{task}',
                           stage1[task]['checkpoint'], None))

        def work():
            rows = {}
            for label, config, ckpt, model_depth in models:
                overrides = {}
                if model_depth is not None:
                    overrides = choice.model_overrides(model_depth)
                rows[label] = self.test_model(config, step, ckpt, overrides)
            report = write_pipeline_report(
                self.step_dir(step), rows, choice.to_dict(),
                self.stage2_mode,
                self.ledger.timings(self.steps[:-1]))
            return dict(artifacts=report)

        key = dict(models=[m[2] for m in models])
        done = self.run_step(step, key, work)
        with open(done['artifacts']['markdown'], encoding='utf-8') as f:
            report = f.read()
        self.log('final report\n' + report)
        self.log(f"report: {done['artifacts']['markdown']} and "
                 f"{done['artifacts']['json']}; logs: {self.root}/<step>/"
                 '<timestamp>/<timestamp>.log, the pipeline\'s: '
                 f'{self._runner.logger.log_file}')
        return done
