"""Per-interval peak memory (the pipeline records one per step)."""
import pytest
from _memory import resident_block

from mmpretrain_osdtw.utils.peak_memory import peak_memory_mb, reset_peak_memory


def test_the_peak_of_a_big_allocation_is_seen():
    reset_peak_memory()
    before = peak_memory_mb()['rss']
    block = resident_block(200)
    assert peak_memory_mb()['rss'] >= before + 190
    block.close()


def test_a_reset_forgets_an_earlier_peak():
    block = resident_block(200)
    high = peak_memory_mb()['rss']
    block.close()
    if not reset_peak_memory():
        pytest.skip('no /proc/self/clear_refs: the CPU peak cannot be reset')
    assert peak_memory_mb()['rss'] < high - 150


def test_no_gpu_no_cuda_figure():
    import torch
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        pytest.skip('a GPU is in use')
    assert peak_memory_mb()['cuda'] is None
