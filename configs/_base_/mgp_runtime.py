# Runtime of the MGP (MAE pretraining) configs: the project's runtime without
# its class-count hook (labels are not used), a different seed on every rank
# (different masks), epoch checkpoints for resuming (--resume).
_base_ = './lt_runtime.py'

custom_hooks = []
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
