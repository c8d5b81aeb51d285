# Plain cross-entropy fine-tuned from the MGP checkpoint (see _bench.py).
_base_ = './_bench.py'

model = dict(
    head=dict(
        type='VisionTransformerClsHead',
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0)))
val_evaluator = dict(nll='softmax')
test_evaluator = dict(nll='softmax')
