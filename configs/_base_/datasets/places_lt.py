# Places-LT (official OLTR lists; 62,500 training images, 365 classes) with
# the ImageNet-LT pipelines, batch size and metric (imagenet_lt.py).
# Layout: data/places365/{data_256,val_256}/ + data/places365/
# Places_LT_{train,val,test}.txt (see mmpretrain_osdtw/datasets/
# lt_benchmarks.py).
_base_ = './imagenet_lt.py'

data_root = 'data/places365'
data_preprocessor = dict(num_classes=365)
train_dataloader = dict(dataset=dict(type='PlacesLT', data_root=data_root))
val_dataloader = dict(dataset=dict(type='PlacesLT', data_root=data_root))
test_dataloader = val_dataloader
