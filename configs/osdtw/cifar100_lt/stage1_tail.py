# OSDTW stage 1 on CIFAR-100-LT, tail task.
_base_ = './stage1_head.py'

train_dataloader = dict(dataset=dict(task='tail'))
model = dict(head=dict(task='tail'))
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_tail.pth'),
]
