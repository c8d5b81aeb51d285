# OSDTW stage 1 on ImageNet-LT, tail task: same recipe, the tail half.
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
    # ViT-B per-sample gradients: chunk_size * (2 + draws) * 86M floats.
    dict(type='FisherHook', out_file='fisher_tail.pth', chunk_size=8),
]
