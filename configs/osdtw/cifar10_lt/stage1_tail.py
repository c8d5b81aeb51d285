# OSDTW stage 1, tail task: same recipe, the tail half of the classes.
_base_ = './stage1_head.py'

train_dataloader = dict(dataset=dict(task='tail'))
model = dict(head=dict(task='tail'))
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_tail.pth'),
]
