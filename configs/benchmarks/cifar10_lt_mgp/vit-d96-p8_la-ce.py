# Logit-adjusted softmax cross-entropy (Menon et al.) fine-tuned from the
# MGP checkpoint (see _bench.py).
_base_ = './_bench.py'

model = dict(
    head=dict(
        type='LogitAdjustedCEHead',
        loss=dict(_delete_=True, type='LogitAdjustedCELoss', tau=1.0)))
val_evaluator = dict(nll='softmax')
test_evaluator = dict(nll='softmax')
