# OSDTW stage 1, both tasks in one data pass: a TaskPairClassifier holding the
# head-task and the tail-task model of stage1_head.py / stage1_tail.py (the
# stage model of _stage_base.py, whose head task the pair sets; same recipe,
# same initialisation, summed losses: the same training as the two configs,
# with one data pass). The pipeline uses it with
#   --cfg-options train_cfg.stage1_pair=stage1_pair.py
# and then writes each task's statistics with the FisherHook of its own
# stage-1 config; by hand: tools/osdtw_split_pair.py. Both models and their
# activations are in memory at once.
_base_ = './_stage_base.py'

model = dict(
    _delete_=True, type='TaskPairClassifier', model={{_base_.model}})
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='both',
        dataset={{_base_.train_dataloader.dataset}}))
custom_hooks = [dict(type='ClassCountsHook')]
