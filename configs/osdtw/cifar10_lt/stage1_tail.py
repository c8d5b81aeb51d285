# OSDTW stage 1, tail task: same recipe, the tail half of the classes.
_base_ = './_stage_base.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='tail',
        dataset={{_base_.train_dataloader.dataset}}))
model = dict(head=dict(task='tail'))
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_tail.pth'),
]
