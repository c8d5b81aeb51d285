# OSDTW stage 1, tail task, on the benchmark recipe (_bench.py; as
# configs/osdtw/cifar10_lt/stage1_tail.py): the tail half of the classes
# (HeadTailSplit), then the task's Fisher statistics. Its test row scores
# only the task's classes, so it reports no NLL.
_base_ = './_bench.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='tail',
        dataset={{_base_.train_dataloader.dataset}}))
model = dict(head=dict(task='tail'))
test_evaluator = dict(nll=None)
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_tail.pth'),
]
