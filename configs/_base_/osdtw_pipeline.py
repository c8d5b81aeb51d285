# Host of the OSDTW pipeline. `tools/train.py <dataset>/pipeline.py` builds
# the StageRunner (runner_type below); its settings are train_cfg's keys. It
# runs every stage as its own Runner from the stage configs next to the
# pipeline config (paths below are relative to that folder). Each step's
# console shows one line when it starts and one when it ends (and warnings);
# its full log, config and hook table included, goes to the log file in its
# folder. `tools/train.py --verbose` shows everything on the console.
_base_ = './lt_runtime.py'

runner_type = 'StageRunner'
train_cfg = dict(
    type='StageRunner',
    stage1_head='stage1_head.py',
    stage1_tail='stage1_tail.py',
    stage2='stage2_joint.py',
    assemble='stage3_assemble.py',
    refine='stage3_refine.py',
    stage2_mode='truncate',
    # The proxy's N calibrated on the SGD noise of a second stage-1 seed per
    # task (two more stage-1 trainings): it passed the validation grids of
    # the converged benchmark (docs/benchmarks/converged/ir100/tables.md,
    # "Ways of choosing"); the derivation's asymptotic 1/N chose the worst
    # depth. noise_scale='asymptotic' with mismatch='debiased-positive' is
    # the former default.
    noise_scale='second_seed',
    search=dict(
        variant='full',
        mismatch='debiased',
        w_step=0.01,
        w_min=0.05,
        w_max=0.95),
    fisher=dict(chunk_size=32))
