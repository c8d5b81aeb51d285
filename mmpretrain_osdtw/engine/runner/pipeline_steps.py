"""The steps of the OSDTW pipeline, one small object each.

A step has a ``name`` (its folder under the work dir), says whether it
runs (:meth:`PipelineStep.enabled`), builds its ``key`` from its settings
and what it reads (:meth:`PipelineStep.key`: content keys of the configs
it uses, the SHA-256 of earlier artifacts, the chosen ``C``/``w_A``) and
does its ``work`` (:meth:`PipelineStep.work`, returning
``dict(artifacts={name: path}, **info)``). The runner
(:class:`~.stage_runner.StageRunner`) loops over :data:`STEPS` and gives
each step itself (the settings and the stage-config helpers) and the
finished earlier steps' records (``done``: ``{step: done.json content}``).
"""
import os.path as osp
import time
from typing import Dict, Optional, Tuple

from mmengine.dist import barrier, is_main_process

from mmpretrain_osdtw.evaluation import (ASSEMBLED_ROW, PAIR_ROW, REFINED_ROW,
                                         STAGE1_ROW, STAGE2_ROW,
                                         write_pipeline_report)
from mmpretrain_osdtw.models.classifiers import split_task_pair_checkpoint
from mmpretrain_osdtw.models.utils import build_model
from mmpretrain_osdtw.osdtw import plot_heatmap, run_search, save_search_json
from mmpretrain_osdtw.osdtw.assemble import (assemble_from_config,
                                             load_stage1_decoders,
                                             save_model_checkpoint)
from mmpretrain_osdtw.osdtw.fisher import (cross_fisher_from_configs,
                                           task_fisher_from_config)
from mmpretrain_osdtw.osdtw.sgd_noise import (add_displacement_noise,
                                              add_sgd_noise)

TASKS = ('head', 'tail')
Done = Dict[str, dict]


class PipelineStep:
    """One step: override :meth:`key` and :meth:`work`.

    Attributes:
        name (str): The step's name and folder.
        config (str, optional): The stage config it trains or evaluates
            with; the step runs only when the pipeline names it if
            ``optional``.
        optional (bool): Runs only when ``config`` is given.
    """
    name = ''
    config: Optional[str] = None
    optional = False

    def enabled(self, runner) -> bool:
        return not self.optional or self.config in runner.configs

    def configs(self, runner) -> Tuple[str, ...]:
        """The stage configs whose content keys :meth:`key` holds."""
        return (self.config, ) if self.config in runner.configs else ()

    def key(self, runner, done: Done) -> dict:
        raise NotImplementedError

    def resume_key(self, runner, done: Done) -> Optional[dict]:
        """What its partial outputs depend on, when less than the key."""
        return None

    def work(self, runner, done: Done) -> dict:
        raise NotImplementedError

    def after(self, runner, done: Done) -> None:
        """Called once the step is done (or skipped)."""


def stage1_checkpoints(done: Done) -> Dict[str, str]:
    return {t: done[f'stage1_{t}']['artifacts']['checkpoint'] for t in TASKS}


def stage1_digests(runner) -> Dict[str, Optional[str]]:
    return {
        f'stage1_{t}': runner.ledger.digest(f'stage1_{t}', 'checkpoint')
        for t in TASKS
    }


class MGPStep(PipelineStep):
    """MGP (MAE) on the training images; its last checkpoint starts every
    backbone of the stages that train from their initialisation."""
    name = config = 'mgp'
    optional = True

    def key(self, runner, done):
        return dict(mgp=runner.configs.key('mgp'))

    def work(self, runner, done):
        return dict(artifacts=dict(
            checkpoint=runner.train_stage('mgp', self.name)))

    def after(self, runner, done):
        runner.backbone_init = done['mgp']['artifacts']['checkpoint']
        runner.check_backbone_handover()


class Stage1PairStep(PipelineStep):
    """Both stage-1 task models in one data pass (``TaskPairClassifier``)."""
    name = config = 'stage1_pair'
    optional = True

    def key(self, runner, done):
        return dict(stage1_pair=runner.configs.key(self.config),
                    **runner.init_key())

    def work(self, runner, done):
        return dict(artifacts=dict(
            checkpoint=runner.train_stage(self.config, self.name)))


class Stage1TaskStep(PipelineStep):
    """One stage-1 task model and its Fisher statistics file (written by
    the config's ``FisherHook``, or split off the pair's checkpoint)."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.name = self.config = f'stage1_{task}'

    def key(self, runner, done):
        key = dict(self.resume_key(runner, done),
                   fisher_max_samples=runner.fisher_cfg.get('max_samples'))
        if 'stage1_pair' in done:
            key['pair'] = runner.ledger.digest('stage1_pair', 'checkpoint')
        return key

    def resume_key(self, runner, done):
        return {self.config: runner.configs.key(self.config),
                **runner.init_key()}

    def work(self, runner, done):
        if 'stage1_pair' in done:
            return self.split_pair(runner, done)
        ckpt = runner.train_stage(self.config, self.name)
        fisher = osp.join(runner.step_dir(self.name),
                          f'fisher_{self.task}.pth')
        if not osp.isfile(fisher):
            raise RuntimeError(
                f'{self.name}: {fisher} was not written: the stage-1 config '
                f'{runner.configs.paths[self.config]} needs FisherHook in '
                'custom_hooks')
        return dict(artifacts=dict(checkpoint=ckpt, fisher=fisher))

    def split_pair(self, runner, done):
        folder = runner.step_dir(self.name)
        ckpt = osp.join(folder, f'{self.task}_from_pair.pth')
        if is_main_process():
            split_task_pair_checkpoint(
                done['stage1_pair']['artifacts']['checkpoint'], self.task,
                ckpt)
        barrier()
        fisher = task_fisher_from_config(
            runner.stage_config(self.config, self.name), ckpt, folder,
            runner.logger)
        return dict(artifacts=dict(checkpoint=ckpt, fisher=fisher))


class Stage1SecondSeedStep(PipelineStep):
    """``train_cfg.noise_scale='second_seed'``: the task config trained
    again with the next seed (no Fisher pass), for the task's SGD noise."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.config = f'stage1_{task}'
        self.name = f'stage1_{task}_seed2'

    def enabled(self, runner) -> bool:
        return runner.noise_scale == 'second_seed'

    def seed(self, runner) -> int:
        """The first run's seed + 1."""
        first = (runner.configs.load(self.config).get('randomness')
                 or {}).get('seed')
        return (first or 0) + 1

    def key(self, runner, done):
        return {self.config: runner.configs.key(self.config),
                'seed': self.seed(runner), **runner.init_key()}

    def work(self, runner, done):

        def second_run(cfg):
            cfg.randomness = dict(cfg.get('randomness') or {},
                                  seed=self.seed(runner))
            cfg.custom_hooks = [
                h for h in cfg.get('custom_hooks', [])
                if h.get('type') != 'FisherHook'
            ]

        return dict(artifacts=dict(checkpoint=runner.train_stage(
            self.config, self.name, edit=second_run)))


class SgdNoiseStep(PipelineStep):
    """Each task's SGD noise in a copy of its statistics file: ``0.5
    (theta^(1) - theta^(2))^2`` of its two seeds (``noise_scale=
    'second_seed'``), or the single-run bound ``(theta - theta_0)^2`` from
    the MGP checkpoint (``'displacement'``); the search then calibrates the
    proxy's ``N`` on it."""
    name = 'sgd_noise'

    def enabled(self, runner) -> bool:
        return runner.noise_scale != 'asymptotic'

    def key(self, runner, done):
        key = dict(noise_scale=runner.noise_scale)
        for t in TASKS:
            key[t] = dict(stats=runner.ledger.digest(f'stage1_{t}', 'fisher'))
            if runner.noise_scale == 'second_seed':
                key[t]['second'] = runner.ledger.digest(
                    f'stage1_{t}_seed2', 'checkpoint')
        if runner.noise_scale == 'displacement':
            key.update(runner.init_key())
        return key

    def work(self, runner, done):
        out = {}
        for task in TASKS:
            out[task] = osp.join(runner.step_dir(self.name),
                                 f'fisher_{task}_sgd.pth')
            stats = done[f'stage1_{task}']['artifacts']['fisher']
            if not is_main_process():
                continue
            if runner.noise_scale == 'second_seed':
                add_sgd_noise(
                    stats, task,
                    done[f'stage1_{task}_seed2']['artifacts']['checkpoint'],
                    out[task])
            else:
                add_displacement_noise(stats, task, runner.backbone_init,
                                       out[task])
        barrier()
        return dict(artifacts=out)


class FisherCrossStep(PipelineStep):
    """The cross-task term ``k`` of the two stage-1 models."""
    name = 'fisher_cross'

    def configs(self, runner):
        return tuple(f'stage1_{t}' for t in TASKS)

    def key(self, runner, done):
        return dict(fisher=runner.fisher_cfg,
                    **{n: runner.configs.key(n) for n in self.configs(runner)},
                    checkpoints=stage1_digests(runner))

    def work(self, runner, done):
        out = osp.join(runner.step_dir(self.name), 'fisher_cross.pth')
        ckpts = stage1_checkpoints(done)
        cross_fisher_from_configs(
            {t: (runner.stage_config(f'stage1_{t}', self.name), ckpts[t])
             for t in TASKS},
            out_file=out,
            **runner.fisher_cfg)
        return dict(artifacts=dict(cross=out))


class SearchStep(PipelineStep):
    """The proxy search over ``(C, w_A)``: ``search.json`` and its heat
    map; the choice (with the user's override) is logged."""
    name = 'search'

    def statistics(self, done) -> Tuple[Tuple[str, str], ...]:
        """``(step, artifact)`` of the head, tail and cross files: the
        files with SGD noise under another ``noise_scale``."""
        if 'sgd_noise' in done:
            tasks = (('sgd_noise', 'head'), ('sgd_noise', 'tail'))
        else:
            tasks = tuple((f'stage1_{t}', 'fisher') for t in TASKS)
        return tasks + (('fisher_cross', 'cross'), )

    def settings(self, runner, done) -> dict:
        """The search's arguments: ``train_cfg.search``, with the noise
        scale calibrated on the SGD noise when there is a second seed."""
        settings = dict(runner.search_cfg)
        if 'sgd_noise' in done:
            settings.setdefault('noise_scale', 'sgd')
        return settings

    def key(self, runner, done):
        stats = {f'{step}.{name}': runner.ledger.digest(step, name)
                 for step, name in self.statistics(done)}
        return dict(search=self.settings(runner, done), statistics=stats)

    def work(self, runner, done):
        folder = runner.step_dir(self.name)
        out_json = osp.join(folder, 'search.json')
        out_png = osp.join(folder, 'proxy_heatmap.png')
        if is_main_process():
            result = run_search(
                *[done[step]['artifacts'][name]
                  for step, name in self.statistics(done)],
                **self.settings(runner, done))
            save_search_json(result, out_json)
            plot_heatmap(result, out_png)
        barrier()
        return dict(artifacts=dict(search=out_json, heatmap=out_png))

    def after(self, runner, done):
        runner.log(runner.choice(done).describe())


class Stage2Step(PipelineStep):
    """The weighted joint model (``truncate``: the whole body shared and
    its first ``C`` blocks kept; ``exact``: ``C`` blocks shared, decoders
    from stage 1). Its key holds the choice, not ``search.json``'s file."""
    name = config = 'stage2'

    def key(self, runner, done):
        choice = runner.choice(done)
        key = dict(mode=runner.stage2_mode,
                   shared_depth=choice.stage2_depth(runner.stage2_mode),
                   head_weight=choice.head_weight,
                   stage2=runner.configs.key(self.config),
                   **runner.init_key())
        if runner.stage2_mode == 'exact':
            key['decoders'] = stage1_digests(runner)
        return key

    def work(self, runner, done):
        choice = runner.choice(done)
        if choice.shared_depth == 0:
            runner.log('stage2: C=0 shares nothing, no joint training')
            return dict(artifacts={}, skipped=True)
        depth = choice.stage2_depth(runner.stage2_mode)
        overrides = choice.model_overrides(depth)
        if runner.stage2_mode == 'exact':
            overrides['load_from'] = self.init_from_stage1(
                runner, done, overrides)
        ckpt = runner.train_stage(self.config, self.name, overrides)
        return dict(artifacts=dict(checkpoint=ckpt))

    def init_from_stage1(self, runner, done, overrides: dict) -> str:
        """``exact`` mode: a start whose decoders and heads come from stage
        1 (the encoder keeps the config's initialisation)."""
        path = osp.join(runner.step_dir(self.name), 'init_from_stage1.pth')
        if is_main_process():
            model = build_model(
                runner.stage_config(self.config, self.name, overrides))
            model.init_weights()
            load_stage1_decoders(model, stage1_checkpoints(done))
            save_model_checkpoint(model, path, dict(source='stage1'))
        barrier()
        return path


class AssembleStep(PipelineStep):
    """The shared encoder (stage 2's first ``C`` blocks) with the stage-1
    decoders, and the stage-1 pair as one model (``C = 0``)."""
    name = config = 'assemble'

    def key(self, runner, done):
        choice = runner.choice(done)
        return dict(assemble=runner.configs.key(self.config),
                    stage1=stage1_digests(runner),
                    stage2=runner.ledger.digest('stage2', 'checkpoint'),
                    shared_depth=choice.shared_depth,
                    head_weight=choice.head_weight)

    def work(self, runner, done):
        choice = runner.choice(done)
        stage2 = done['stage2']['artifacts'].get('checkpoint')
        osdtw = self.build(runner, done, stage2, choice.shared_depth,
                           choice.head_weight, 'assembled')
        pair = self.build(runner, done, None, 0, choice.head_weight,
                          'stage1_pair')
        return dict(
            artifacts=dict(checkpoint=osdtw[0], config=osdtw[1],
                           pair_checkpoint=pair[0], pair_config=pair[1]),
            shared_depth=choice.shared_depth,
            head_weight=choice.head_weight)

    def build(self, runner, done, stage2: Optional[str], depth: int,
              weight: float, name: str) -> Tuple[str, str]:
        """Assemble one model; its checkpoint and resolved config."""
        folder = runner.step_dir(self.name)
        ckpt = osp.join(folder, f'{name}.pth')
        cfg_path = osp.join(folder, f'{name}_config.py')
        if is_main_process():
            assemble_from_config(
                runner.stage_config(self.config, self.name),
                stage1_checkpoints(done), stage2, depth, weight, ckpt,
                cfg_path)
        barrier()
        return ckpt, cfg_path


class RefineStep(PipelineStep):
    """The decoders refined on the assembled model (encoder frozen)."""
    name = config = 'refine'
    optional = True

    def overrides(self, runner, done) -> dict:
        return dict(runner.choice(done).model_overrides(),
                    load_from=done['assemble']['artifacts']['checkpoint'])

    def key(self, runner, done):
        overrides = self.overrides(runner, done)
        overrides['load_from'] = runner.ledger.digest('assemble',
                                                      'checkpoint')
        return dict(refine=runner.configs.key(self.config),
                    overrides=overrides)

    def work(self, runner, done):
        return dict(artifacts=dict(checkpoint=runner.train_stage(
            self.config, self.name, self.overrides(runner, done))))


class TestStep(PipelineStep):
    """Every model of the pipeline on the test set: ``report.json`` and
    ``report.md`` (with this step's own time until the report)."""
    name = 'test'

    def models(self, runner, done) -> list:
        """``(row label, config, step, artifact, depth)`` per model."""
        choice = runner.choice(done)
        depth = choice.shared_depth
        rows = []
        if 'refine' in done:
            rows.append((REFINED_ROW, 'refine', 'refine', 'checkpoint',
                         depth))
        rows.append((ASSEMBLED_ROW, 'assemble', 'assemble', 'checkpoint',
                     depth))
        if done['stage2']['artifacts'].get('checkpoint'):
            rows.append((STAGE2_ROW, 'stage2', 'stage2', 'checkpoint',
                         choice.stage2_depth(runner.stage2_mode)))
        rows.append((PAIR_ROW, 'assemble', 'assemble', 'pair_checkpoint', 0))
        for task in TASKS:
            rows.append((STAGE1_ROW.format(task=task), f'stage1_{task}',
                         f'stage1_{task}', 'checkpoint', None))
        return rows

    def configs(self, runner):
        return tuple(sorted({'refine', 'assemble', 'stage2', 'stage1_head',
                             'stage1_tail'} & set(runner.configs.paths)))

    def key(self, runner, done):
        return dict(
            models={label: runner.ledger.digest(step, name)
                    for label, _, step, name, _ in self.models(runner, done)},
            chosen=runner.choice(done).to_dict(),
            **{n: runner.configs.key(n) for n in self.configs(runner)})

    def work(self, runner, done):
        start = time.monotonic()
        choice = runner.choice(done)
        rows = {}
        for label, config, step, name, depth in self.models(runner, done):
            overrides = {} if depth is None else choice.model_overrides(depth)
            rows[label] = runner.test_model(
                config, self.name, done[step]['artifacts'][name], overrides)
        timings = runner.ledger.timings(runner.step_names[:-1])
        timings[self.name] = time.monotonic() - start  # so far
        report = write_pipeline_report(
            runner.step_dir(self.name), rows, choice.to_dict(),
            runner.stage2_mode, timings, running=self.name)
        return dict(artifacts=report)


#: Every step, in the order they run (the optional ones when configured).
STEPS = (MGPStep(), Stage1PairStep(), Stage1TaskStep('head'),
         Stage1TaskStep('tail'), Stage1SecondSeedStep('head'),
         Stage1SecondSeedStep('tail'), SgdNoiseStep(), FisherCrossStep(),
         SearchStep(),
         Stage2Step(), AssembleStep(), RefineStep(), TestStep())
PIPELINE_STEPS = tuple(step.name for step in STEPS)
