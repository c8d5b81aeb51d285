"""OSDTW stage 1: the Fisher pass (per-sample gradients, ``v``, ``h``,
``k``) and its statistics files.

**Model.** An MMPretrain ``ImageClassifier`` with a ``VisionTransformer``
backbone and a task head (``LogitAdjustedBCEHead`` with ``task='head'`` or
``'tail'``). Parameters map to OSDTW layers with :func:`param_layer_map`
(stem with block 0 in layer 1, block ``i`` in layer ``i + 1``, final norms,
neck and head in group 0): :mod:`.model_parts`.

**Likelihood.** The per-sample loss is the log-likelihood loss of the
trained model, in nats: the SUM over the task's ``n`` classes of
``BCE-with-logits(z_c + tau * log_odds_c, y_c)``, where ``z`` are the raw
task logits, ``log_odds_c = log pi_c - log(1 - pi_c)`` the head's
``task_log_prior_odds()`` and ``tau`` its loss's ``tau``. Stage 1 trained
these *adjusted* logits, so the model's Bernoulli likelihood (and its
optimum ``theta_hat``) lives on them; the adjustment is a constant shift, so
with ``tau = 0`` this is plain BCE. The loss's label smoothing, Mixup/CutMix
and ``loss_weight`` are NOT applied: they are training devices, not part of
the likelihood (proxy.md section 4).

**Statistics** (diagonal, one value per parameter entry, averaged over the
``N`` samples; :mod:`.statistics`)::

    v = mean_i g_i(y_i)^2                 # y_i = the true task target
    h = mean_i mean_m g_i(y~_im)^2        # y~_imc ~ Bernoulli(sigmoid(z'_ic))
    k = mean_i g_A,i(y_i) * g_B,i(y_i)    # each task at its own model

``g_i(y) = J_i^T (sigmoid(z'_i) - y)`` is the per-sample gradient, computed
with ``torch.func.functional_call`` + ``vmap`` over the samples of a chunk of
a ``vjp`` of the adjusted logits: one forward per sample serves the true
target and all ``num_model_samples`` drawn ones (:mod:`.per_sample`).

**Determinism.** The model runs in eval mode (dropout and drop-path off)
and the data must come without random augmentation: the training images
read with the TEST pipeline (:mod:`.data`). The labels ``y~`` are drawn by
:func:`label_uniforms` from a generator seeded by ``(seed, task,
sample_idx)`` (``sample_idx`` from the samples' metainfo, set by
``BaseDataset``), so ``h`` does not depend on the batch size, the chunk size,
the device or the number of processes. Samples without ``sample_idx`` use
their position in this process's stream instead.

**Distributed.** With ``torch.distributed`` initialised, every rank sums
over its shard of genuine samples (:mod:`.sampling`); the float64 sums and
the counts are ``all_reduce``-d before dividing, so every rank gets the
single-process result.

**Memory.** The per-sample gradients of ``chunk_size`` samples are alive at
once: about ``chunk_size * (2 + num_model_samples) * #params`` floats.

**Files.** :class:`TaskStats` (``fisher_<task>.pth``) and
:class:`CrossStats` (``fisher_cross.pth``) are the format, with ``save`` and
``load``; :class:`TaskStatsPair` checks that they belong together and
:func:`load_stats` reads them into the proxy's :class:`ProxyInputs`.

**Jobs.** :class:`TaskFisherJob` runs the pass of a task model and writes
its file (``FisherHook`` after training, :func:`task_fisher_from_config`
from a config and checkpoint); :func:`cross_fisher_from_configs` writes
``fisher_cross.pth``.

Example:
    >>> stats = fisher_statistics(model, loader)  # doctest: +SKIP
    >>> TaskStats.from_model(model, stats).save(
    ...     'fisher_head.pth')  # doctest: +SKIP
"""
from .cross_job import cross_fisher_from_configs
from .cross_stats import CROSS_KEYS, CrossStats
from .data import (FISHER_SAMPLER, build_fisher_loader, fisher_dataloader_cfg,
                   with_progress)
from .model_parts import (LIKELIHOOD, NO_TASK_HEAD, TASKS, TaskModelRecord,
                          body_fingerprint, check_task_pair, logit_offset,
                          model_meta, param_layer_map, shared_param_names,
                          task_head)
from .pairing import TaskStatsPair
from .per_sample import (TASK_STREAMS, Grads, chunk_grads, label_uniforms,
                         per_sample_task_grads)
from .proxy_inputs import ProxyInputs, load_stats
from .sampling import rank_sample_limit, sample_limit
from .statistics import cross_task_statistics, eval_mode, fisher_statistics
from .stats_files import FORMAT_VERSION
from .task_job import TaskFisherJob, build_task_model, task_fisher_from_config
from .task_stats import TASK_KEYS, TaskStats
from .validation import check_statistics

__all__ = [
    'TASKS', 'TASK_STREAMS', 'LIKELIHOOD', 'NO_TASK_HEAD', 'Grads',
    'TaskModelRecord', 'body_fingerprint', 'check_task_pair', 'logit_offset',
    'model_meta', 'param_layer_map', 'shared_param_names', 'task_head',
    'chunk_grads', 'label_uniforms', 'per_sample_task_grads',
    'rank_sample_limit', 'sample_limit', 'cross_task_statistics', 'eval_mode',
    'fisher_statistics', 'check_statistics', 'FORMAT_VERSION', 'TASK_KEYS',
    'CROSS_KEYS', 'TaskStats', 'CrossStats', 'TaskStatsPair', 'ProxyInputs',
    'load_stats', 'FISHER_SAMPLER', 'build_fisher_loader',
    'fisher_dataloader_cfg', 'with_progress', 'TaskFisherJob',
    'build_task_model', 'task_fisher_from_config', 'cross_fisher_from_configs'
]
