# Logit-adjusted CE fine-tuning of an MAE-pretrained ViT-B/16 on Places-LT.
_base_ = [
    '../../_base_/models/vit-base-p16_mae-ft.py',
    '../../_base_/datasets/imagenet_lt.py',
    '../../_base_/schedules/adamw_mae-ft_lt.py',
    '../../_base_/lt_runtime.py',
]

# Places-LT (official OLTR lists; 62,500 training images, 365 classes) with
# the ImageNet-LT pipelines and metric. Layout: data/places365/{data_256,
# val_256}/ + data/places365/Places_LT_{train,val,test}.txt (see
# mmpretrain_osdtw/datasets/lt_benchmarks.py).
data_root = 'data/places365'
data_preprocessor = dict(num_classes=365)
train_dataloader = dict(dataset=dict(type='PlacesLT', data_root=data_root))
val_dataloader = dict(dataset=dict(type='PlacesLT', data_root=data_root))
test_dataloader = val_dataloader

model = dict(
    head=dict(
        type='LogitAdjustedCEHead',
        num_classes=365,
        loss=dict(
            _delete_=True,
            type='LogitAdjustedCELoss',
            tau=1.0,
            label_smooth_val=0.1)))
train_cfg = dict(max_epochs=30)
