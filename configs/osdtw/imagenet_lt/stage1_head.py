# OSDTW stage 1 on ImageNet-LT, head task: the paper's recipe
# (_stage_base.py) on the head half of the classes, then the task's Fisher
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
    # ViT-B per-sample gradients: chunk_size * (2 + draws) * 86M floats.
    dict(type='FisherHook', out_file='fisher_head.pth', chunk_size=8),
]
