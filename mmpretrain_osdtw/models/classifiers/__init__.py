from .dual_decoder import DualDecoderClassifier, ViTDecoder

__all__ = ['DualDecoderClassifier', 'ViTDecoder']
