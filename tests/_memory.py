"""Resident memory on demand, for the peak-memory tests."""
import mmap


def resident_block(mib: int) -> mmap.mmap:
    """``mib`` MiB of fresh anonymous pages, every page written.

    The pages are resident memory the allocator cannot have taken from
    earlier, freed blocks; closing the block ``munmap``-s them again.

    Args:
        mib (int): Size in MiB.

    Returns:
        mmap.mmap: The block; close it to free the pages.
    """
    block = mmap.mmap(-1, mib * 2**20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return block
