"""The converged CIFAR-10-LT benchmark's protocol, as data: its jobs.

A :class:`Job` names one run of the protocol: its commands (built when its
inputs exist, since they read checkpoints other jobs wrote), the files it
waits for, the CPU threads it takes and how its result JSON is made from
what its commands wrote. :class:`Protocol` lists every job of one setting
(:class:`Settings`), in priority order. Nothing here runs anything
(:mod:`.execute` does); the result JSONs are read back by :mod:`.results`.

Jobs (``name``; per seed unless said otherwise):

- ``mgp`` (once): MGP pretraining, ``tools/train.py`` of the MGP config
  with ``--work-dir <root>/mgp`` (2 threads, alone). A finished checkpoint
  is reused as it is; a run that is still writing its log is waited for.
- ``ce``, ``la-ce``, ``bal-bce``, ``more_bal-bce``, ``bal-bce_scratch``:
  one training (test-set monitor every epoch), then the test set and the
  validation (held-out) set; MORE is tested as its merged plain model.
- ``osdtw``: the whole pipeline (``osdtw_pipeline.py``), then its refined
  model on the validation set.
- ``search_<mismatch>``: ``tools/osdtw_search.py`` on the pipeline's
  stage-1 statistics (raw, debiased, debiased-positive).
- ``stage2_w<w>`` (ablation seeds): the stage-2 joint model (``truncate``:
  the whole body shared) at ``w_A = w``, tested (the w_A sweep at C = L).
- ``grid_C<c>_w<w>`` (ablation seeds): the pipeline's stage-1 models
  assembled with ``stage2_w<w>`` at depth ``c``, tested (the factorized
  model's NLL), refined, tested, and the refined model on validation.

Every command gets the setting as ``--cfg-options`` of its benchmark config
(:meth:`Settings.cfg_options`; the ViT's patch size and width, when not the
default 8 and 96, also reach MGP: :meth:`Settings.mgp_model_options`); a
validation-set test runs a config written
beside the run that puts ``_heldout.py``'s dataset in place of the test set
(:meth:`Protocol.heldout_config`).
"""
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mmpretrain_osdtw.engine.runner.stage_runner import PIPELINE_STEPS
from mmpretrain_osdtw.engine.runner.step_ledger import StepLedger
from mmpretrain_osdtw.evaluation.pipeline_report import REFINED_ROW
from mmpretrain_osdtw.osdtw.choice import TaskPairChoice

CFG_DIR = osp.join('configs', 'benchmarks', 'cifar10_lt_mgp')
MGP_CONFIG = osp.join('configs', 'mgp', 'cifar10_lt',
                      'mae_vit-mini-p8_1xb256-coslr-200e.py')
#: Fine-tuned methods: name -> (table label, train config, test config or
#: None for the train config, whether it starts from MGP).
METHODS: Dict[str, Tuple[str, str, Optional[str], bool]] = {
    'ce': ('CE', 'vit-d96-p8_ce.py', None, True),
    'la-ce': ('LA-CE', 'vit-d96-p8_la-ce.py', None, True),
    'bal-bce': ('Bal-BCE', 'vit-d96-p8_bal-bce.py', None, True),
    'more_bal-bce': ('MORE + Bal-BCE', 'vit-d96-p8_more_bal-bce.py',
                     'vit-d96-p8_bal-bce.py', True),
    'bal-bce_scratch': ('Bal-BCE from scratch (no MGP)',
                        'vit-d96-p8_bal-bce_scratch.py', None, False),
}
OSDTW_LABEL = 'OSDTW (proxy choice)'
#: Pipeline runs of the main table: job name -> (table label, pipeline
#: config). ``osdtw_validation`` chooses (C, w_A) on the validation split
#: (``train_cfg.choose='validation'``), starting from a copy of the
#: ``osdtw`` run's stage-1 and Fisher steps (the ledger reuses them).
PIPELINES: Dict[str, Tuple[str, str]] = {
    'osdtw': (OSDTW_LABEL, 'osdtw_pipeline.py'),
    'osdtw_validation': ('OSDTW (validation choice)',
                         'osdtw_pipeline_validation.py'),
}
#: The steps ``osdtw_validation`` takes over from ``osdtw``.
SHARED_PIPELINE_STEPS = ('stage1_head', 'stage1_tail', 'fisher_cross')
#: Methods whose 2-model ensembles (two seeds' models, their scores
#: averaged by ``ScoreEnsemble``) are rows of the main table: the rivals at
#: twice a baseline's inference cost, the cost of OSDTW at C = 0.
ENSEMBLE_METHODS = ('la-ce', 'bal-bce')
ENSEMBLE_PREFIX = 'ensemble2_'
#: Per ablation seed: every grid cell's assembled model (before
#: refinement) on the validation set, what the pipeline's
#: ``train_cfg.choose='validation'`` scores.
ASSEMBLED_VAL_JOB = 'assembled_val'
#: The once-only job that measures every row's inference cost.
COST_JOB = 'cost'
#: The stage config whose ``DualDecoderClassifier`` is the assembled model.
ASSEMBLE_CONFIG = 'osdtw_stage3_assemble.py'
MISMATCHES = ('raw', 'debiased', 'debiased-positive')
#: The pipeline configs' mismatch estimate (with the default second-seed
#: noise scale; 'debiased-positive' with the asymptotic one, before issue
#: 17). Each osdtw result records the one its search used.
PIPELINE_MISMATCH = 'debiased'
SEARCH_ARGS = ('--w-min', '0.05', '--w-max', '0.95', '--w-step', '0.01')
#: The first seed's searches with the SGD noise from the second seed, by
#: noise scale: the noise added to the mismatch noise, or the proxy's N
#: calibrated on it.
SGD_SEARCHES = {'asymptotic': 'search_sgd-noise', 'sgd': 'search_sgd-scale'}
SGD_NOISE_SEARCH = SGD_SEARCHES['asymptotic']
#: The search with N calibrated on the single-run displacement bound (each
#: task model's squared move from the MGP checkpoint; proxy.md section 8).
DISPLACEMENT_SEARCH = 'search_displacement'
NUM_LAYERS = 6  # L of the benchmark ViT
#: The benchmark ViT's patch size and width as its configs hold them (the
#: driver's ``--patch-size`` / ``--embed-dims`` give other values to every
#: command; these give no option, so the commands stay as they were).
DEFAULT_PATCH_SIZE = 8
DEFAULT_EMBED_DIMS = 96
#: Attention head width of the benchmark ViTs: ``num_heads = dims // 32``.
HEAD_DIMS = 32
IMG_SIZE = 32
#: Benchmark configs whose setting sits at other keys: stage 1 wraps the
#: long-tailed training set in ``HeadTailSplit``, the refinement trains
#: ``refine_epochs``, the from-scratch run has no MGP initialisation.
STAGE1_CONFIGS = ('osdtw_stage1_head.py', 'osdtw_stage1_tail.py')
#: The stage configs of the benchmark pipeline (``osdtw_pipeline.py``), by
#: its ``train_cfg`` key.
PIPELINE_STAGES = {
    'stage1_head': 'osdtw_stage1_head.py',
    'stage1_tail': 'osdtw_stage1_tail.py',
    'stage2': 'osdtw_stage2_joint.py',
    'assemble': 'osdtw_stage3_assemble.py',
    'refine': 'osdtw_stage3_refine.py',
}
REFINE_CONFIG = 'osdtw_stage3_refine.py'
SCRATCH_CONFIG = METHODS['bal-bce_scratch'][1]
#: The validation set (a piece: the dataset that replaces a test set).
HELDOUT_PIECE = '_heldout.py'

Command = List[str]


@dataclass
class Step:
    """One command of a job.

    Attributes:
        label (str): Its name in the job's timings (``train``, ``test``).
        argv (list[str] | callable): The command, or a function that builds
            it when the step starts (its inputs are written by earlier
            steps).
        env (dict): Extra environment variables of this step (the
            protocol's steps need none).
    """
    label: str
    argv: object
    env: Dict[str, str] = field(default_factory=dict)

    def command(self) -> Command:
        return self.argv() if callable(self.argv) else list(self.argv)


@dataclass
class Job:
    """One run of the protocol.

    Attributes:
        name (str): Unique within its seed; the result file's stem.
        seed (int, optional): The seed (None for once-only jobs).
        kind (str): ``mgp``, ``train``, ``osdtw``, ``search``, ``stage2`` or
            ``grid``.
        deps (tuple[str]): Files that must exist before it starts.
        steps (callable): ``() -> [Step, ...]``, called when it starts.
        finish (callable): ``(seconds per step label) -> result dict``.
        threads (int): CPU threads it uses (slots of the executor).
        wait (callable, optional): ``() -> str | None``: a reason to wait
            before starting (e.g. another process still writes its work
            dir), checked again until it returns None.
        outputs (tuple[str]): Files it leaves in the work root that other
            jobs read (checkpoints, ledger entries). A finished job whose
            outputs are gone (a new machine) runs again when a pending job
            needs them: see :meth:`Protocol.jobs`.
        rerun (bool): This run repeats a finished job to recreate its
            outputs; its result goes to ``runs_rerun/`` beside the committed
            one, which it leaves as it is (the two can be compared).
    """
    name: str
    seed: Optional[int]
    kind: str
    deps: Tuple[str, ...]
    steps: Callable[[], List[Step]]
    finish: Callable[[Dict[str, float]], dict]
    threads: int = 1
    wait: Optional[Callable[[], Optional[str]]] = None
    outputs: Tuple[str, ...] = ()
    rerun: bool = False

    @property
    def key(self) -> str:
        """``seed<S>/<name>`` (``<name>`` for once-only jobs)."""
        return self.name if self.seed is None else \
            f'seed{self.seed}/{self.name}'


@dataclass
class Settings:
    """One setting of the protocol (the command line's options).

    Attributes:
        work_root (str): Runs go to ``<work_root>/seed<S>/<name>``, MGP to
            ``<work_root>/mgp``.
        out_dir (str): Per-run result JSONs (``runs/``) and the aggregate.
        seeds (list[int]): Seeds of the main table.
        ablation_seeds (list[int]): Seeds of the stage-2 sweep and grid.
        imb_ratio (int): Imbalance ratio of the training set.
        class_order (list[int], optional): Which class gets which count.
        epochs (int): Epochs per training run (stage 1, stage 2,
            baselines).
        refine_epochs (int): Epochs of the decoder refinement.
        mgp_epochs (int): Epochs of MGP.
        weights (list[float]): w_A of the stage-2 sweep and grid.
        depths (list[int]): C of the grid.
        methods (list[str]): Fine-tuned methods (keys of :data:`METHODS`)
            plus ``'osdtw'``.
        python (str): The interpreter of the subprocesses.
        patch_size (int): Patch size of the ViT (MGP and fine-tuning); must
            divide the 32 px image.
        embed_dims (int): Width of the ViT (a multiple of 32: ``dims // 32``
            heads of 32 dims, MLP ``4 * dims``).
        mgp_root (str, optional): The MGP work dir (default
            ``<work_root>/mgp``): settings that differ only in fine-tuning
            share one MGP run (the regime pilot).
    """
    work_root: str
    out_dir: str
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    ablation_seeds: List[int] = field(default_factory=lambda: [0])
    imb_ratio: int = 100
    class_order: Optional[List[int]] = None
    epochs: int = 20
    refine_epochs: int = 6
    mgp_epochs: int = 200
    weights: List[float] = field(
        default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    depths: List[int] = field(default_factory=lambda: [0, 2, 4, 6])
    methods: List[str] = field(
        default_factory=lambda: list(METHODS) + list(PIPELINES))
    python: str = sys.executable
    patch_size: int = DEFAULT_PATCH_SIZE
    embed_dims: int = DEFAULT_EMBED_DIMS
    mgp_root: Optional[str] = None

    @property
    def mgp_dir(self) -> str:
        if self.mgp_root is not None:
            return osp.abspath(self.mgp_root)
        return osp.abspath(osp.join(self.work_root, 'mgp'))

    @property
    def mgp_checkpoint(self) -> str:
        return osp.join(self.mgp_dir, f'epoch_{self.mgp_epochs}.pth')

    def cfg_options(self, config: str) -> List[str]:
        """The ``--cfg-options`` that give a benchmark config (a file name
        in :data:`CFG_DIR`) this setting: its epochs, the training set's
        imbalance ratio and class order, the MGP checkpoint its backbone
        starts from, the ViT's patch size and width when they are not the
        configs' (:meth:`model_options`). Every command of the config gets
        them, tests included (the test's class counts come from the
        training set).

        Example:
            >>> s = Settings('work', 'out', class_order=[1, 0])
            >>> s.cfg_options('osdtw_stage3_refine.py')[0]
            'train_cfg.max_epochs=6'
            >>> s.cfg_options('osdtw_stage1_head.py')[2]
            'train_dataloader.dataset.dataset.class_order=[1,0]'
        """
        dataset = 'train_dataloader.dataset'
        if config in STAGE1_CONFIGS:
            dataset += '.dataset'  # HeadTailSplit(LongTailedDataset(...))
        epochs = self.refine_epochs if config == REFINE_CONFIG \
            else self.epochs
        options = [f'train_cfg.max_epochs={epochs}'
                   ] + self.dataset_options(dataset)
        if config != SCRATCH_CONFIG:
            options.append('model.backbone.init_cfg.checkpoint='
                           f'{self.mgp_checkpoint}')
        return options + self.model_options()

    def vit_arch_options(self, backbone: str) -> List[str]:
        """The patch size and width of the ViT at the key ``backbone``
        (``model.backbone``), only those that are not the default."""
        options = []
        if self.patch_size != DEFAULT_PATCH_SIZE:
            options.append(f'{backbone}.patch_size={self.patch_size}')
        if self.embed_dims != DEFAULT_EMBED_DIMS:
            dims = self.embed_dims
            options += [
                f'{backbone}.arch.embed_dims={dims}',
                f'{backbone}.arch.num_heads={dims // HEAD_DIMS}',
                f'{backbone}.arch.feedforward_channels={4 * dims}'
            ]
        return options

    def model_options(self) -> List[str]:
        """The ViT's patch size and width in a fine-tuning config (every
        benchmark config: ``ImageClassifier``, ``MOREClassifier`` and
        ``DualDecoderClassifier`` take them from the backbone and the head
        alone): the backbone's ``patch_size`` and ``arch``, the head's
        ``in_channels``. Empty for the default ViT.

        Example:
            >>> Settings('w', 'o', patch_size=4).model_options()
            ['model.backbone.patch_size=4']
        """
        options = self.vit_arch_options('model.backbone')
        if self.embed_dims != DEFAULT_EMBED_DIMS:
            options.append(f'model.head.in_channels={self.embed_dims}')
        return options

    def mgp_model_options(self) -> List[str]:
        """The same ViT in the MGP config (MMPretrain's MAE): the
        ``MAEViT`` backbone, the ``MAEPretrainDecoder`` neck (its patch
        size, number of patches and input width; the decoder's own width
        stays) and the ``MAEPretrainHead`` (its patch size). Empty for the
        default ViT."""
        options = self.vit_arch_options('model.backbone')
        if self.patch_size != DEFAULT_PATCH_SIZE:
            options += [
                f'model.neck.patch_size={self.patch_size}',
                'model.neck.num_patches='
                f'{(IMG_SIZE // self.patch_size) ** 2}',
                f'model.head.patch_size={self.patch_size}'
            ]
        if self.embed_dims != DEFAULT_EMBED_DIMS:
            options.append(f'model.neck.embed_dim={self.embed_dims}')
        return options

    def dataset_options(self, dataset: str) -> List[str]:
        """The imbalance ratio and class order of the ``LongTailedDataset``
        at the key ``dataset``."""
        options = [f'{dataset}.imb_ratio={self.imb_ratio}']
        if self.class_order is not None:
            options.append(f'{dataset}.class_order=[' +
                           ','.join(map(str, self.class_order)) + ']')
        return options


def search_result(search: dict, seed: int, mismatch: str,
                  seconds: Dict[str, float]) -> dict:
    """The result JSON of a search job, from its ``search.json`` dict."""
    return dict(
        kind='search',
        seed=seed,
        mismatch=mismatch,
        chosen=search['chosen'],
        w_grid=search['w_grid'],
        proxy=search['grid']['proxy'],
        per_layer_mismatch=search['diagnostics'].get('per_layer_mismatch'),
        seconds=seconds)


def weight_tag(weight: float) -> str:
    """``0.3`` -> ``'0.30'`` (job names)."""
    return f'{weight:.2f}'


def resolve_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's ``last_checkpoint`` file names."""
    with open(osp.join(work_dir, 'last_checkpoint'), encoding='utf-8') as f:
        return f.read().strip()


def read_json(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


class Protocol:
    """Every job of one :class:`Settings`, and the paths they share."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.root = osp.abspath(settings.work_root)

    # ------------------------------------------------------------ paths
    def run_dir(self, seed: int, name: str) -> str:
        return osp.join(self.root, f'seed{seed}', name)

    def result_path(self, job: Job) -> str:
        """``<out>/runs/<key>.json`` (``runs_rerun/`` for a rerun)."""
        folder = 'runs_rerun' if job.rerun else 'runs'
        return osp.join(
            osp.abspath(self.s.out_dir), folder,
            *(job.key.split('/'))) + '.json'

    def stage2_result(self, seed: int, weight: float) -> str:
        return osp.join(
            osp.abspath(self.s.out_dir), 'runs', f'seed{seed}',
            f'stage2_w{weight_tag(weight)}.json')

    def ledger(self, seed: int, name: str = 'osdtw') -> StepLedger:
        """A pipeline run's step ledger (its ``done.json`` files)."""
        return StepLedger(self.run_dir(seed, name), PIPELINE_STEPS)

    # ---------------------------------------------------------- commands
    def config(self, name: str) -> str:
        """The path of a benchmark config (an absolute path, such as a
        config written beside a run, stays as it is)."""
        return osp.join(CFG_DIR, name)

    def train_cmd(self, config: str, work_dir: str, seed: int,
                  *options: str) -> Command:
        return [
            self.s.python, 'tools/train.py',
            self.config(config), '--work-dir', work_dir, '--resume',
            '--cfg-options', f'randomness.seed={seed}', *options
        ]

    def test_cmd(self, config: str, checkpoint: str, out: str,
                 *options: str) -> Command:
        argv = [
            self.s.python, 'tools/test.py',
            self.config(config), checkpoint, '--work-dir',
            osp.join(osp.dirname(out), 'test_logs'), '--out', out,
            '--out-item', 'metrics'
        ]
        return argv + (['--cfg-options', *options] if options else [])

    def heldout_config(self, config: str, out: str) -> str:
        """Write ``out``, a config that is ``config`` with the validation
        set (:data:`HELDOUT_PIECE`) as its test set, and return its path.
        A file, since ``--cfg-options`` cannot give a dataset (the command
        line has no dict syntax); the setting's imbalance ratio and class
        order reach it as ``test_dataloader.dataset.*`` options."""
        bases = [
            osp.abspath(self.config(name)) for name in (config, HELDOUT_PIECE)
        ]
        text = (f'# {config} with the validation set as its test set '
                '(written by tools/benchmark/converged).\n'
                f'_base_ = {bases!r}\n\n'
                'test_dataloader = dict(dataset={{_base_.heldout_dataset}})\n')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            f.write(text)
        return out

    def test_steps(self, config: str, checkpoint, work: str,
                   *options: str, prefix: str = '',
                   setting: Optional[List[str]] = None) -> List[Step]:
        """Test-set and validation-set evaluation of one checkpoint (a
        path, or a function giving it when the step starts), with the
        setting's options (``setting``: instead of the benchmark config's,
        e.g. none for a config that already holds them) and ``options``."""
        if setting is None:
            setting = self.s.cfg_options(config)

        def build(split):
            out = osp.join(work, f'{prefix}{split}_metrics.json')

            def argv():
                ckpt = checkpoint() if callable(checkpoint) else checkpoint
                if split == 'test':
                    return self.test_cmd(config, ckpt, out, *setting,
                                         *options)
                heldout = self.heldout_config(
                    config, osp.join(work, f'{prefix}val_config.py'))
                return self.test_cmd(
                    heldout, ckpt, out, *setting, *options,
                    *self.s.dataset_options('test_dataloader.dataset'))

            return Step(f'{prefix}{split}', argv)

        return [build('test'), build('val')]

    # -------------------------------------------------------------- jobs
    def mgp_job(self) -> Job:
        s = self.s

        def steps():
            if osp.isfile(s.mgp_checkpoint):
                return []
            argv = [
                s.python, 'tools/train.py', MGP_CONFIG, '--work-dir',
                s.mgp_dir, '--resume'
            ]
            options = []
            if s.mgp_epochs != 200:
                options.append(f'train_cfg.max_epochs={s.mgp_epochs}')
            if s.imb_ratio != 100:
                options.append(f'train_dataloader.dataset.imb_ratio='
                               f'{s.imb_ratio}')
            if s.class_order is not None:
                options.append('train_dataloader.dataset.class_order=[' +
                               ','.join(map(str, s.class_order)) + ']')
            options += s.mgp_model_options()
            if options:
                argv += ['--cfg-options', *options]
            return [Step('train', argv)]

        def finish(seconds):
            from .results import mgp_segments, mgp_wall_time
            segments = mgp_segments(s.mgp_dir)
            return dict(
                kind='mgp',
                checkpoint=s.mgp_checkpoint,
                epochs=s.mgp_epochs,
                elapsed_s=mgp_wall_time(s.mgp_dir, s.mgp_checkpoint),
                training_s=round(sum(b - a for a, b in segments), 1),
                segments=len(segments),
                seconds=seconds)

        def wait():
            from .results import active_log_age
            age = active_log_age(s.mgp_dir)
            if not osp.isfile(s.mgp_checkpoint) and age is not None \
                    and age < 300:
                return (f'{s.mgp_dir} has a log written in the last 5 '
                        'minutes: another MGP run is still going')
            return None

        return Job('mgp', None, 'mgp', (), steps, finish, threads=2,
                   wait=wait, outputs=(s.mgp_checkpoint, ))

    def train_job(self, seed: int, method: str) -> Job:
        label, config, test_config, from_mgp = METHODS[method]
        work = self.run_dir(seed, method)

        def checkpoint():
            if test_config is not None:
                return osp.join(work, 'merged.pth')
            return resolve_checkpoint(work)

        def steps():
            train = self.train_cmd(config, work, seed,
                                   *self.s.cfg_options(config))
            return [Step('train', train)] + \
                self.test_steps(test_config or config, checkpoint, work)

        def finish(seconds):
            from .results import read_curve, read_metrics
            return dict(
                kind='train',
                method=method,
                label=label,
                seed=seed,
                metrics=read_metrics(osp.join(work, 'test_metrics.json')),
                val_metrics=read_metrics(osp.join(work, 'val_metrics.json')),
                curve=read_curve(work),
                wall_s=seconds.get('train', 0.0),
                seconds=seconds)

        deps = (self.s.mgp_checkpoint, ) if from_mgp else ()
        return Job(method, seed, 'train', deps, steps, finish)

    def pipeline_job(self, seed: int, name: str = 'osdtw') -> Job:
        """A pipeline run of :data:`PIPELINES` (``osdtw``: the default
        proxy choice), then its refined model on the validation set. A run
        other than ``osdtw`` starts from a copy of ``osdtw``'s
        :data:`SHARED_PIPELINE_STEPS` folders (``cp -a``; not over files
        already there), which its ledger reuses when their keys match."""
        label, config = PIPELINES[name]
        work = self.run_dir(seed, name)

        ledger = self.ledger(seed, name)

        def choice() -> TaskPairChoice:
            return TaskPairChoice(**{
                k: v for k, v in read_json(ledger.artifact(
                    'test', 'json'))['chosen'].items()
                if k in ('shared_depth', 'head_weight', 'num_layers')
            })

        def refined():
            return ledger.artifact('refine', 'checkpoint')

        stage_options = self.pipeline_stage_options()
        if name != 'osdtw':
            stage_options += self.s.dataset_options(
                'train_cfg.validation.dataset')

        def steps():
            copies = [] if name == 'osdtw' else [
                Step(f'copy_{step}', [
                    'cp', '-a', '-n', self.ledger(seed).step_dir(step),
                    work + os.sep
                ]) for step in SHARED_PIPELINE_STEPS
            ]
            os.makedirs(work, exist_ok=True)
            pipeline = Step('pipeline', [
                self.s.python, 'tools/train.py',
                self.config(config), '--work-dir', work,
                '--cfg-options', f'randomness.seed={seed}',
                f'train_cfg.stage_cfg_options.randomness.seed={seed}',
                *stage_options
            ])
            val = self.test_steps(REFINE_CONFIG, refined, work)[1]
            base = val.argv

            def val_argv():
                options = [
                    f'{k}={v}' for k, v in choice().model_overrides().items()
                ]
                return base() + ['--cfg-options', *options]

            val.argv = val_argv
            return copies + [pipeline, val]

        def finish(seconds):
            from .results import read_curve, read_metrics, strip_prefix
            report = read_json(ledger.artifact('test', 'json'))
            rows = {k: strip_prefix(v) for k, v in report['models'].items()}
            search = read_json(ledger.artifact('search', 'search'))
            return dict(
                kind='osdtw',
                method=name,
                label=label,
                seed=seed,
                chosen=report['chosen'],
                metrics=rows[REFINED_ROW],
                rows=rows,
                val_metrics=read_metrics(osp.join(work, 'val_metrics.json')),
                search=dict(
                    mismatch=search['mismatch'],
                    noise_scale=search['noise_scale'],
                    chosen=search['chosen'],
                    w_grid=search['w_grid'],
                    proxy=search['grid']['proxy'],
                    per_layer_mismatch=search['diagnostics'].get(
                        'per_layer_mismatch')),
                curves={
                    step: read_curve(ledger.step_dir(step))
                    for step in ('stage1_head', 'stage1_tail', 'stage2',
                                 'refine')
                },
                timings=report['timings'],
                wall_s=float(sum(report['timings'].values())),
                seconds=seconds)

        deps = (self.s.mgp_checkpoint, )
        if name == 'osdtw':
            outputs = tuple(
                ledger.done_path(step) for step in SHARED_PIPELINE_STEPS)
        else:
            deps += tuple(self.ledger(seed).done_path(step)
                          for step in SHARED_PIPELINE_STEPS)
            outputs = ()
        return Job(name, seed, 'osdtw', deps, steps, finish,
                   outputs=outputs)

    def pipeline_stage_options(self) -> List[str]:
        """The setting of the pipeline's stage configs: each stage config
        gets the options a run of that config alone gets
        (:meth:`Settings.cfg_options`), through
        ``train_cfg.per_stage_cfg_options.<stage>``."""
        return [
            f'train_cfg.per_stage_cfg_options.{stage}.{option}'
            for stage, config in PIPELINE_STAGES.items()
            for option in self.s.cfg_options(config)
        ]

    def search_job(self, seed: int, mismatch: str) -> Job:
        out_dir = self.run_dir(seed, f'search_{mismatch}')

        def steps():
            ledger = self.ledger(seed)
            return [
                Step('search', [
                    self.s.python, 'tools/osdtw_search.py',
                    ledger.artifact('stage1_head', 'fisher'),
                    ledger.artifact('stage1_tail', 'fisher'), '--cross',
                    ledger.artifact('fisher_cross', 'cross'), '--out-dir',
                    out_dir, '--mismatch', mismatch, *SEARCH_ARGS
                ])
            ]

        def finish(seconds):
            return search_result(
                read_json(osp.join(out_dir, 'search.json')), seed, mismatch,
                seconds)

        deps = (self.ledger(seed).done_path('fisher_cross'), )
        return Job(f'search_{mismatch}', seed, 'search', deps, steps, finish)

    def sgd_noise_search_job(self, seed: int, second_seed: int,
                             noise_scale: str = 'asymptotic') -> Job:
        """The debiased search of ``seed`` with the SGD noise of each
        stage-1 task estimated from the task model of ``second_seed``
        (proxy.md section 4). ``noise_scale='asymptotic'``
        (``search_sgd-noise``): the SGD noise added to the mismatch noise,
        and the per-layer diagnosis puts it beside the asymptotic noise;
        ``'sgd'`` (``search_sgd-scale``): the proxy's ``N`` calibrated on
        it (:mod:`mmpretrain_osdtw.osdtw.proxy.noise_scale`), from the
        noise files of the ``search_sgd-noise`` job, which it waits for."""
        name = SGD_SEARCHES[noise_scale]
        out_dir = self.run_dir(seed, name)
        noise_dir = self.run_dir(seed, SGD_SEARCHES['asymptotic'])

        def noise_file(task: str) -> str:
            return osp.join(noise_dir, f'fisher_{task}_sgd.pth')

        def steps():
            first, second = self.ledger(seed), self.ledger(second_seed)
            out = []
            for task in ('head', 'tail') if noise_dir == out_dir else ():
                out.append(
                    Step(f'sgd_noise_{task}', [
                        self.s.python, 'tools/osdtw_sgd_noise.py',
                        first.artifact(f'stage1_{task}', 'fisher'),
                        second.artifact(f'stage1_{task}', 'checkpoint'),
                        '--task', task, '--out',
                        noise_file(task)
                    ]))
            out.append(
                Step('search', [
                    self.s.python, 'tools/osdtw_search.py',
                    noise_file('head'),
                    noise_file('tail'), '--cross',
                    first.artifact('fisher_cross', 'cross'), '--out-dir',
                    out_dir, '--mismatch', 'debiased', '--noise-scale',
                    noise_scale, *SEARCH_ARGS
                ]))
            return out

        def finish(seconds):
            search = read_json(osp.join(out_dir, 'search.json'))
            return dict(
                search_result(search, seed, 'debiased', seconds),
                sgd_noise_seed=second_seed,
                noise_scale=noise_scale,
                num_samples=search['N'])

        deps = (self.ledger(seed).done_path('fisher_cross'), ) + tuple(
            self.ledger(second_seed).done_path(f'stage1_{t}')
            for t in ('head', 'tail'))
        if noise_dir != out_dir:
            deps += (self.result_path(
                self.sgd_noise_search_job(seed, second_seed)), )
        return Job(name, seed, 'search', deps, steps, finish)

    def displacement_search_job(self, seed: int) -> Job:
        """The debiased search of ``seed`` with ``N`` calibrated on the
        single-run bound of the SGD noise: each stage-1 task model's
        squared displacement from the MGP checkpoint
        (``tools/osdtw_sgd_noise.py --from-init``), no second seed."""
        out_dir = self.run_dir(seed, DISPLACEMENT_SEARCH)

        def noise_file(task: str) -> str:
            return osp.join(out_dir, f'fisher_{task}_disp.pth')

        def steps():
            ledger = self.ledger(seed)
            out = [
                Step(f'displacement_{task}', [
                    self.s.python, 'tools/osdtw_sgd_noise.py',
                    ledger.artifact(f'stage1_{task}', 'fisher'),
                    '--from-init', self.s.mgp_checkpoint, '--task', task,
                    '--out', noise_file(task)
                ]) for task in ('head', 'tail')
            ]
            out.append(
                Step('search', [
                    self.s.python, 'tools/osdtw_search.py',
                    noise_file('head'), noise_file('tail'), '--cross',
                    ledger.artifact('fisher_cross', 'cross'), '--out-dir',
                    out_dir, '--mismatch', 'debiased', '--noise-scale', 'sgd',
                    *SEARCH_ARGS
                ]))
            return out

        def finish(seconds):
            search = read_json(osp.join(out_dir, 'search.json'))
            return dict(
                search_result(search, seed, 'debiased', seconds),
                noise_scale='displacement',
                num_samples=search['N'])

        deps = (self.ledger(seed).done_path('fisher_cross'),
                self.s.mgp_checkpoint)
        return Job(DISPLACEMENT_SEARCH, seed, 'search', deps, steps, finish)

    def stage2_job(self, seed: int, weight: float) -> Job:
        name = f'stage2_w{weight_tag(weight)}'
        work = self.run_dir(seed, name)
        option = f'model.head_weight={weight}'

        def steps():
            config = 'osdtw_stage2_joint.py'
            train = self.train_cmd(config, work, seed,
                                   *self.s.cfg_options(config), option)
            return [Step('train', train)] + self.test_steps(
                config, lambda: resolve_checkpoint(work), work, option)

        def finish(seconds):
            from .results import read_curve, read_metrics
            return dict(
                kind='stage2',
                seed=seed,
                C=NUM_LAYERS,
                w_A=weight,
                checkpoint=resolve_checkpoint(work),
                metrics=read_metrics(osp.join(work, 'test_metrics.json')),
                val_metrics=read_metrics(osp.join(work, 'val_metrics.json')),
                curve=read_curve(work),
                wall_s=seconds.get('train', 0.0),
                seconds=seconds)

        deps = (self.s.mgp_checkpoint, )
        return Job(name, seed, 'stage2', deps, steps, finish)

    def grid_job(self, seed: int, depth: int, weight: float) -> Job:
        name = f'grid_C{depth}_w{weight_tag(weight)}'
        work = self.run_dir(seed, name)
        stage2 = self.stage2_result(seed, weight)
        model = (f'model.shared_depth={depth}', f'model.head_weight={weight}')
        assembled = osp.join(work, 'assembled.pth')
        refine_dir = osp.join(work, 'refine')

        def assemble_argv():
            ledger = self.ledger(seed)
            config = 'osdtw_stage3_assemble.py'
            argv = [
                self.s.python, 'tools/osdtw_assemble.py',
                self.config(config), '--stage1-head',
                ledger.artifact('stage1_head', 'checkpoint'),
                '--stage1-tail',
                ledger.artifact('stage1_tail', 'checkpoint'),
                '--shared-depth',
                str(depth), '--head-weight',
                str(weight), '--out', assembled
            ]
            if depth > 0:
                argv += ['--stage2', read_json(stage2)['checkpoint']]
            return argv + ['--cfg-options', *self.s.cfg_options(config)]

        def refine_argv():
            # mmengine resumes from load_from when given with --resume:
            # start from the assembled model, or resume a killed refinement.
            resume = osp.isfile(osp.join(refine_dir, 'last_checkpoint'))
            argv = self.train_cmd(REFINE_CONFIG, refine_dir, seed,
                                  *self.s.cfg_options(REFINE_CONFIG), *model)
            if not resume:
                argv.remove('--resume')
                argv.append(f'load_from={assembled}')
            return argv

        def steps():
            out = [Step('assemble', assemble_argv)]
            out += self.test_steps(
                'osdtw_stage3_assemble.py',
                assembled,
                work,
                *model,
                prefix='assembled_')[:1]
            out.append(Step('refine', refine_argv))
            out += self.test_steps(REFINE_CONFIG,
                                   lambda: resolve_checkpoint(refine_dir),
                                   work, *model)
            return out

        def finish(seconds):
            from .results import read_curve, read_metrics
            ledger = self.ledger(seed)
            stage1_s = sum(
                ledger.read(f'stage1_{t}')['seconds']
                for t in ('head', 'tail'))
            stage2_s = read_json(stage2)['wall_s'] if depth > 0 else 0.0
            return dict(
                kind='grid',
                seed=seed,
                C=depth,
                w_A=weight,
                metrics=read_metrics(osp.join(work, 'test_metrics.json')),
                assembled_metrics=read_metrics(
                    osp.join(work, 'assembled_test_metrics.json')),
                val_metrics=read_metrics(osp.join(work, 'val_metrics.json')),
                curve=read_curve(refine_dir),
                stage1_s=stage1_s,
                stage2_s=stage2_s,
                wall_s=stage1_s + stage2_s + seconds.get('assemble', 0.0) +
                seconds.get('refine', 0.0),
                seconds=seconds)

        deps = tuple(
            self.ledger(seed).done_path(f'stage1_{t}')
            for t in ('head', 'tail'))
        if depth > 0:
            deps += (stage2, )
        return Job(name, seed, 'grid', deps, steps, finish)

    def assembled_val_job(self, seed: int) -> Job:
        """Every grid cell's assembled model (``assembled.pth`` in the
        cell's folder) on the validation set, once the seed's grid is
        done: ``{'cells': [[C, w_A, metrics], ...]}``."""
        cells = [(c, w) for c in self.s.depths for w in self.s.weights]

        def folder(depth, weight):
            return self.run_dir(seed, f'grid_C{depth}_w{weight_tag(weight)}')

        def steps():
            out = []
            for depth, weight in cells:
                model = (f'model.shared_depth={depth}',
                         f'model.head_weight={weight}')
                step = self.test_steps(
                    ASSEMBLE_CONFIG, osp.join(folder(depth, weight),
                                              'assembled.pth'),
                    folder(depth, weight), *model, prefix='assembled_')[1]
                step.label = f'C{depth}_w{weight_tag(weight)}'
                out.append(step)
            return out

        def finish(seconds):
            from .results import read_metrics
            return dict(
                kind=ASSEMBLED_VAL_JOB,
                seed=seed,
                cells=[[c, w, read_metrics(osp.join(
                    folder(c, w), 'assembled_val_metrics.json'))]
                       for c, w in cells],
                seconds=seconds)

        deps = tuple(
            osp.join(osp.abspath(self.s.out_dir), 'runs', f'seed{seed}',
                     f'grid_C{c}_w{weight_tag(w)}.json') for c, w in cells)
        return Job(ASSEMBLED_VAL_JOB, seed, ASSEMBLED_VAL_JOB, deps, steps,
                   finish)

    def ensemble_job(self, seed: int, method: str, partner: int) -> Job:
        """``ensemble2_<method>``: the method's models of ``seed`` and
        ``partner`` as one ``ScoreEnsemble`` (checkpoints joined by
        ``tools/ensemble_checkpoints.py``), tested and validated; its config
        is the method's with the setting applied, written beside the run
        (:func:`write_ensemble_config`)."""
        label, config, _, _ = METHODS[method]
        name = ENSEMBLE_PREFIX + method
        work = self.run_dir(seed, name)
        members = [self.run_dir(s, method) for s in (seed, partner)]
        joined = osp.join(work, 'ensemble.pth')
        ens_config = osp.join(work, 'ensemble_config.py')

        def steps():
            write_ensemble_config(
                self.config(config), self.s.cfg_options(config),
                len(members), ens_config)
            join = [
                self.s.python, 'tools/ensemble_checkpoints.py',
                *[resolve_checkpoint(m) for m in members], '--out', joined
            ]
            return [Step('join', join)] + self.test_steps(
                ens_config, joined, work, setting=[])

        def finish(seconds):
            from .results import read_metrics
            return dict(
                kind='ensemble',
                method=name,
                label=f'2-model ensemble of {label}',
                seed=seed,
                members=[seed, partner],
                metrics=read_metrics(osp.join(work, 'test_metrics.json')),
                val_metrics=read_metrics(osp.join(work, 'val_metrics.json')),
                wall_s=None,
                seconds=seconds)

        deps = tuple(osp.join(m, 'last_checkpoint') for m in members)
        return Job(name, seed, 'ensemble', deps, steps, finish)

    def cost_job(self) -> Job:
        """Parameters, GFLOPs and ms per image (batch 1 and 128) of the
        baseline ViT, the assembled model at every shared depth and a
        2-model ensemble, in one run
        (``python -m tools.benchmark.inference_cost``, 1 thread). Weights
        do not change the cost: no checkpoint is needed."""
        out = osp.join(self.root, COST_JOB, 'inference_cost.json')
        reference = self.config(METHODS['bal-bce'][1])

        def steps():
            os.makedirs(osp.dirname(out), exist_ok=True)
            argv = [
                self.s.python, '-m', 'tools.benchmark.inference_cost',
                self.config(ASSEMBLE_CONFIG), '--shared-depths',
                *map(str, range(NUM_LAYERS + 1)), '--reference', reference,
                '--ensemble', reference, reference, '--json', out
            ]
            options = self.s.model_options()
            return [Step('measure', argv + (['--cfg-options', *options]
                                           if options else []))]

        def finish(seconds):
            result = read_json(out)
            return dict(kind='cost', rows=result['rows'],
                        batch_sizes=result['batch_sizes'],
                        threads=result['threads'],
                        machine=result['machine'], seconds=seconds)

        return Job(COST_JOB, None, 'cost', (), steps, finish)

    def jobs(self) -> List[Job]:
        """Every job, in priority order: MGP; the main table of the first
        seed with its searches and ablations; the main table of the other
        seeds; their ablations (when they are ablation seeds). A run cut
        short has every method on as many seeds as possible and a complete
        ablation of the first seed."""
        s = self.s
        main: Dict[int, List[Job]] = {}
        ablation: Dict[int, List[Job]] = {}
        osdtw = 'osdtw' in s.methods
        for seed in s.seeds:
            main[seed] = [self.pipeline_job(seed)] if osdtw else []
            if 'osdtw_validation' in s.methods:
                main[seed].append(self.pipeline_job(seed, 'osdtw_validation'))
            main[seed] += [
                self.train_job(seed, m) for m in s.methods if m in METHODS
            ]
            if osdtw:
                main[seed] += [self.search_job(seed, m) for m in MISMATCHES]
            ablation[seed] = []
            if osdtw and seed in s.ablation_seeds:
                ablation[seed] += [self.stage2_job(seed, w) for w in s.weights]
                ablation[seed] += [
                    self.grid_job(seed, c, w) for c in s.depths
                    for w in s.weights
                ]
                ablation[seed].append(self.displacement_search_job(seed))
                ablation[seed].append(self.assembled_val_job(seed))
        first, rest = s.seeds[0], s.seeds[1:]
        if osdtw and rest:
            for seed in s.ablation_seeds:
                partner = sgd_partner(seed, s.seeds)
                if seed in ablation and partner is not None:
                    ablation[seed] += [
                        self.sgd_noise_search_job(seed, partner, scale)
                        for scale in SGD_SEARCHES
                    ]
        # the cost of each row's model beside OSDTW's assembled one
        out = [self.mgp_job()] + ([self.cost_job()] if osdtw else []) + \
            main[first] + ablation[first]
        for seed in rest:
            out += main[seed]
        for seed in s.seeds:
            partner = ensemble_partner(seed, s.seeds)
            out += [
                self.ensemble_job(seed, m, partner)
                for m in ENSEMBLE_METHODS
                if m in s.methods and partner is not None
            ]
        for seed in rest:
            out += ablation[seed]
        self.mark_reruns(out)
        return out

    def mark_reruns(self, jobs: Sequence[Job]) -> None:
        """Mark the finished jobs whose outputs a pending job needs and
        that are gone (``Job.rerun``), until no pending job waits for a
        file that no job will write. On the machine that ran the protocol
        nothing is marked; on a new one, e.g., the grid of a further seed
        reruns MGP and that seed's pipeline (their results go to
        ``runs_rerun/``, the committed ones stay)."""
        changed = True
        while changed:
            changed = False
            needed = set()
            for job in jobs:
                if not osp.isfile(self.result_path(job)):
                    needed.update(job.deps)
            for job in jobs:
                if job.rerun or not osp.isfile(self.result_path(job)):
                    continue
                missing = [o for o in job.outputs if not osp.isfile(o)]
                if any(o in needed for o in missing):
                    job.rerun = True
                    changed = True


def ensemble_partner(seed: int, seeds: Sequence[int]) -> Optional[int]:
    """The seed whose model joins ``seed``'s in its 2-model ensemble: the
    next seed of the list, cyclically, so that every seed has one ensemble
    and each model is in two (None for one seed).

    Example:
        >>> [ensemble_partner(s, [0, 1, 2]) for s in (0, 1, 2)]
        [1, 2, 0]
    """
    if len(seeds) < 2 or seed not in seeds:
        return None
    i = list(seeds).index(seed)
    return seeds[(i + 1) % len(seeds)]


def write_ensemble_config(config: str, options: Sequence[str], members: int,
                          out: str) -> str:
    """Write ``out``: ``config`` with ``options`` (``KEY=VALUE``, as
    ``--cfg-options`` takes them) applied and its model replaced by a
    ``ScoreEnsemble`` of ``members`` copies of it; a whole config (no
    ``_base_``), since the setting's model options name keys of the member,
    not of the ensemble."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        key: DictAction._parse_iterable(value)
        for key, _, value in (o.partition('=') for o in options)
    })
    member = cfg.model.to_dict()
    cfg.model = dict(type='ScoreEnsemble', members=[member] * members)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    cfg.dump(out)
    return out


def sgd_partner(seed: int, seeds: Sequence[int]) -> Optional[int]:
    """The seed whose stage-1 models give ``seed``'s SGD noise: the next
    seed of the list, the one before it for the last (None for one seed).

    Example:
        >>> [sgd_partner(s, [0, 1, 2]) for s in (0, 1, 2)]
        [1, 2, 1]
    """
    if len(seeds) < 2 or seed not in seeds:
        return None
    i = list(seeds).index(seed)
    return seeds[i + 1] if i + 1 < len(seeds) else seeds[i - 1]


def check_names_unique(jobs: Sequence[Job]) -> None:
    """Raise ValueError if two jobs share a key (their results would)."""
    seen = set()
    for job in jobs:
        if job.key in seen:
            raise ValueError(f'two jobs are named {job.key!r}')
        seen.add(job.key)
