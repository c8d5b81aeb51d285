# OSDTW stage 1, head task: the stage recipe (_stage_base.py) on the head
# half of the classes (HeadTailSplit), followed by the task's Fisher
# statistics.
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
