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

A step may stand for several (:meth:`PipelineStep.instances`): with
``train_cfg.choose='validation'``, :class:`ValidationStage2Step` is one
step ``validation_stage2_w<w>`` per weight of ``train_cfg.validation``.
"""
import copy
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

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
from mmpretrain_osdtw.osdtw.validation_choice import (choice_result,
                                                      closest_to_half,
                                                      grid_cells, metric_key,
                                                      plot_validation_heatmap)
from mmpretrain_osdtw.utils import InputError, atomic_json_dump

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

    def instances(self, runner) -> Tuple['PipelineStep', ...]:
        """The steps this one stands for in ``runner``'s pipeline: itself
        when :meth:`enabled`."""
        return (self, ) if self.enabled(runner) else ()

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
        if runner.choose == 'validation':
            proxy = runner.proxy_choice(done)
            runner.log(f'search (a diagnostic: train_cfg.choose='
                       f"'validation') chose C={proxy.shared_depth}, "
                       f'w_A={proxy.head_weight}; the choice is made on the '
                       'validation split')
            return
        runner.log(runner.choice(done).describe())


def stage2_key(runner, depth: int, weight: float) -> dict:
    """The key of a stage-2 training at ``shared_depth=depth``,
    ``head_weight=weight`` in ``runner.stage2_mode`` (the same for
    :class:`Stage2Step` and :class:`ValidationStage2Step`: equal keys, one
    model)."""
    return dict(mode=runner.stage2_mode,
                shared_depth=depth,
                head_weight=weight,
                stage2=runner.configs.key('stage2'),
                **runner.init_key())


class ValidationStage2Step(PipelineStep):
    """``train_cfg.choose='validation'``: the stage-2 joint model at one
    ``w_A`` of ``train_cfg.validation.weights`` (``truncate``: the whole
    body shared), one step ``validation_stage2_w<w>`` per weight. Its key
    is :class:`Stage2Step`'s at that weight, so stage 2 reuses the model
    at the chosen weight instead of training it again."""
    name = 'validation_stage2'
    config = 'stage2'
    prefix = 'validation_stage2_w'

    def __init__(self, weight: Optional[float] = None) -> None:
        self.weight = weight
        if weight is not None:
            self.name = f'{self.prefix}{weight:g}'

    def enabled(self, runner) -> bool:
        return runner.choose == 'validation'

    def instances(self, runner):
        if not self.enabled(runner):
            return ()
        return tuple(
            ValidationStage2Step(w) for w in runner.validation_cfg['weights'])

    def key(self, runner, done):
        return stage2_key(runner, runner.search_num_layers(done), self.weight)

    def work(self, runner, done):
        depth = runner.search_num_layers(done)
        overrides = {
            'model.shared_depth': depth,
            'model.head_weight': self.weight
        }
        return dict(artifacts=dict(checkpoint=runner.train_stage(
            self.config, self.name, overrides)),
                    head_weight=self.weight)


class ValidationStep(PipelineStep):
    """``train_cfg.choose='validation'``: each ``(C, w_A)`` cell assembled
    (stage 2 at ``w_A``, its first ``C`` blocks, with the stage-1 decoders;
    ``C = 0``: the stage-1 pair, one cell) and evaluated on
    ``train_cfg.validation.dataset``; ``validation_choice.json`` and
    ``validation_heatmap.png``. Each cell's scores are kept in
    ``cells/C<C>_w<w>.json`` with what they come from, so a rerun (more
    weights, another metric) evaluates only the new cells; the assembled
    cell checkpoints are removed once evaluated."""
    name = 'validation'
    config = 'assemble'

    def enabled(self, runner) -> bool:
        return runner.choose == 'validation'

    def settings(self, runner, done) -> dict:
        """``train_cfg.validation`` with the depths resolved (None: every
        depth ``0..L``) and checked against ``L``."""
        num_layers = runner.search_num_layers(done)
        settings = dict(runner.validation_cfg)
        depths = settings['depths']
        if depths is None:
            depths = list(range(num_layers + 1))
        for depth in depths:
            if depth > num_layers:
                raise InputError(
                    f'train_cfg.validation.depths holds {depth}, outside '
                    f'0..{num_layers} (the ViT has {num_layers} blocks)')
        settings['depths'] = depths
        return settings

    def stage2_steps(self, runner) -> Dict[float, str]:
        """``{w_A: its validation_stage2 step}``."""
        return {
            w: f'{ValidationStage2Step.prefix}{w:g}'
            for w in runner.validation_cfg['weights']
        }

    def key(self, runner, done):
        return dict(
            validation=self.settings(runner, done),
            assemble=runner.configs.key(self.config),
            stage1=stage1_digests(runner),
            stage2={
                step: runner.ledger.digest(step, 'checkpoint')
                for step in self.stage2_steps(runner).values()
            })

    def cell_key(self, runner, depth: int, weight: Optional[float],
                 settings: dict) -> dict:
        """What one cell's scores depend on (the metric aside: every
        metric is kept)."""
        step = self.stage2_steps(runner)[weight] if depth else None
        key = dict(
            C=depth,
            w_A=weight,
            dataset=settings['dataset'],
            assemble=runner.configs.key(self.config),
            stage1=stage1_digests(runner),
            stage2=runner.ledger.digest(step, 'checkpoint') if step else None)
        return json.loads(json.dumps(key))

    def work(self, runner, done):
        start = time.monotonic()
        settings = self.settings(runner, done)
        folder = osp.join(runner.step_dir(self.name), 'cells')
        os.makedirs(folder, exist_ok=True)
        cells: List[dict] = []
        spent = dict(assemble=0.0, evaluate=0.0)
        for depth, weight in grid_cells(settings['depths'],
                                        settings['weights']):
            cells.append(
                self.cell(runner, done, depth, weight, settings, folder,
                          spent))
        spent['total'] = time.monotonic() - start
        result = choice_result(cells, settings,
                               runner.search_num_layers(done), spent)
        out_json = osp.join(runner.step_dir(self.name),
                            'validation_choice.json')
        out_png = osp.join(runner.step_dir(self.name),
                           'validation_heatmap.png')
        if is_main_process():
            atomic_json_dump(result, out_json)
            plot_validation_heatmap(result, out_png)
        barrier()
        return dict(artifacts=dict(choice=out_json, heatmap=out_png),
                    chosen=result['chosen'])

    def cell(self, runner, done, depth: int, weight: Optional[float],
             settings: dict, folder: str, spent: Dict[str, float]) -> dict:
        """One cell's scores: from its file when it was evaluated from the
        same inputs, else assembled and evaluated now."""
        label = f'C{depth}' + ('' if weight is None else f'_w{weight:g}')
        record = osp.join(folder, f'{label}.json')
        key = self.cell_key(runner, depth, weight, settings)
        wanted = metric_key(settings['metric'])
        if osp.isfile(record):
            with open(record, encoding='utf-8') as f:
                old = json.load(f)
            if old.get('key') == key and wanted in old.get('metrics', {}):
                return dict(C=depth, w_A=weight,
                            score=old['metrics'][wanted],
                            metrics=old['metrics'], seconds=old['seconds'],
                            reused=True)
        begin = time.monotonic()
        ckpt = osp.join(folder, f'{label}.pth')
        stage2 = (done[self.stage2_steps(runner)[weight]]['artifacts']
                  ['checkpoint'] if depth else None)
        model_weight = (closest_to_half(settings['weights'])
                        if weight is None else weight)
        if is_main_process():
            assemble_from_config(
                runner.stage_config(self.config, self.name),
                stage1_checkpoints(done), stage2, depth, model_weight, ckpt)
        barrier()
        assembled = time.monotonic()
        overrides = {
            'model.shared_depth': depth,
            'model.head_weight': model_weight
        }
        metrics = runner.test_model(
            self.config, self.name, ckpt, overrides,
            edit=lambda cfg: validation_test_set(cfg, settings))
        metrics = {
            k: float(v)
            for k, v in metrics.items() if isinstance(v, (int, float))
        }
        if wanted not in metrics:
            raise InputError(
                f'train_cfg.validation.metric: the evaluator of '
                f'train_cfg.{self.config} gives no {wanted!r} (it gives '
                f'{sorted(metrics)})')
        end = time.monotonic()
        spent['assemble'] += assembled - begin
        spent['evaluate'] += end - assembled
        seconds = round(end - begin, 3)
        if is_main_process():
            os.remove(ckpt)
            atomic_json_dump(dict(key=key, metrics=metrics, seconds=seconds),
                             record)
        barrier()
        runner.log(f'{self.name}: C={depth}'
                   + ('' if weight is None else f', w_A={weight:g}')
                   + f': {settings["metric"]} {metrics[wanted]:.4g}')
        return dict(C=depth, w_A=weight, score=metrics[wanted],
                    metrics=metrics, seconds=seconds, reused=False)

    def after(self, runner, done):
        runner.log(runner.choice(done).describe())


def validation_test_set(cfg, settings: dict) -> None:
    """Put the validation split in place of a stage config's test set (and
    the test NLL in its ``ShotGroupMetric``, for ``metric='nll'``)."""
    cfg.test_dataloader.dataset = copy.deepcopy(settings['dataset'])
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, dict) and evaluator.get('nll') is None and \
            str(evaluator.get('type', '')).endswith('ShotGroupMetric'):
        evaluator['nll'] = 'sigmoid'  # the OSDTW models' likelihood


class Stage2Step(PipelineStep):
    """The weighted joint model (``truncate``: the whole body shared and
    its first ``C`` blocks kept; ``exact``: ``C`` blocks shared, decoders
    from stage 1). Its key holds the choice, not ``search.json``'s file."""
    name = config = 'stage2'

    def key(self, runner, done):
        choice = runner.choice(done)
        key = stage2_key(runner, choice.stage2_depth(runner.stage2_mode),
                         choice.head_weight)
        if runner.stage2_mode == 'exact':
            key['decoders'] = stage1_digests(runner)
        return key

    def work(self, runner, done):
        choice = runner.choice(done)
        if choice.shared_depth == 0:
            runner.log('stage2: C=0 shares nothing, no joint training')
            return dict(artifacts={}, skipped=True)
        reused = self.reuse(runner, done)
        if reused is not None:
            return reused
        depth = choice.stage2_depth(runner.stage2_mode)
        overrides = choice.model_overrides(depth)
        if runner.stage2_mode == 'exact':
            overrides['load_from'] = self.init_from_stage1(
                runner, done, overrides)
        ckpt = runner.train_stage(self.config, self.name, overrides)
        return dict(artifacts=dict(checkpoint=ckpt))

    def reuse(self, runner, done) -> Optional[dict]:
        """The result of a :class:`ValidationStage2Step` that trained this
        very model (the same key), or None."""
        key = runner.ledger.relative(self.key(runner, done))
        for step, record in done.items():
            if step.startswith(ValidationStage2Step.prefix) and \
                    record.get('key') == key:
                runner.log(f'stage2: the model at w_A='
                           f'{runner.choice(done).head_weight:g} is the one '
                           f'{step} trained; not trained again')
                return dict(
                    artifacts=dict(
                        checkpoint=record['artifacts']['checkpoint']),
                    reused=step)
        return None

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
            **{n: runner.configs.key(n) for n in self.configs(runner)},
            **runner.choice_info(done))

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
            runner.stage2_mode, timings, running=self.name,
            **runner.choice_info(done))
        return dict(artifacts=report)


#: Every step, in the order they run (the optional ones when configured;
#: ``validation_stage2`` stands for one step per validation weight).
STEPS = (MGPStep(), Stage1PairStep(), Stage1TaskStep('head'),
         Stage1TaskStep('tail'), Stage1SecondSeedStep('head'),
         Stage1SecondSeedStep('tail'), SgdNoiseStep(), FisherCrossStep(),
         SearchStep(), ValidationStage2Step(), ValidationStep(),
         Stage2Step(), AssembleStep(), RefineStep(), TestStep())
PIPELINE_STEPS = tuple(step.name for step in STEPS)
