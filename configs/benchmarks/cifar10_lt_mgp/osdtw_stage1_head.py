# OSDTW stage 1, head task, on the benchmark recipe (_bench.py; as
# configs/osdtw/cifar10_lt/stage1_head.py): the head half of the classes
# (HeadTailSplit), then the task's Fisher statistics. Its test row scores
# only the task's classes, so it reports no NLL.
_base_ = './_bench.py'

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
