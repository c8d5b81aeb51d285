# Runtime shared by every config of the project: MMPretrain's default runtime,
# the plug-in import, and the hook that hands the training class counts to the
# logit-adjusted heads and the Many/Medium/Few metric. RNGStateHook saves the
# random states with each checkpoint, so a resumed run trains exactly as an
# uninterrupted one; RecentIterTimerHook logs an ETA from the last epoch's
# iterations (mmengine's averages every one since the start, the slow first
# one included).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mmpretrain_osdtw'], allow_failed_imports=False)
custom_hooks = [dict(type='ClassCountsHook')]
default_hooks = dict(
    timer=dict(type='RecentIterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2),
    rng_state=dict(type='RNGStateHook'))
randomness = dict(seed=0, deterministic=False)
