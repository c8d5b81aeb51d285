# OSDTW stage 1 on CIFAR-100-LT (IR 100), head task: the small-ViT Bal-BCE
# recipe on the head half of the classes, then the task's Fisher statistics.
_base_ = './_stage_base.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='head',
        dataset={{_base_.train_dataloader.dataset}}))
model = dict(head=dict(task='head'))
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='FisherHook', out_file='fisher_head.pth'),
]
