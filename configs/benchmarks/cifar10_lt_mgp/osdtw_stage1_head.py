# OSDTW stage 1, head task, on the benchmark recipe (as configs/osdtw/
# cifar10_lt/stage1_head.py on the baseline): the head half of the classes
# (HeadTailSplit), then the task's Fisher statistics. Its test row scores
# only the task's classes, so it reports no NLL.
_base_ = './vit-d96-p8_bal-bce.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='head',
        dataset={{_base_.train_dataloader.dataset}}))
model = dict(head=dict(task='head'))
test_evaluator = dict(nll=None)
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_head.pth'),
]
