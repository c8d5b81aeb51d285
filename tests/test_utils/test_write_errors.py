"""A failed write (a full or read-only disk) as one line."""
import errno

from mmpretrain_osdtw.utils import describe_write_error


def test_write_errors_are_named_with_their_file():
    full = OSError(errno.ENOSPC, 'No space left on device', 'w/epoch_3.pth')
    line = describe_write_error(full)
    assert line.startswith("cannot write 'w/epoch_3.pth': no space left")
    assert 'rerun the same command to resume' in line
    read_only = OSError(errno.EROFS, 'Read-only file system', 'w/.lock')
    assert 'the file system is read-only' in describe_write_error(read_only)


def test_a_wrapped_write_error_is_found_in_the_chain():
    try:
        try:
            raise OSError(errno.ENOSPC, 'No space left on device', 'x.pth')
        except OSError as err:
            raise RuntimeError('saving failed') from err
    except RuntimeError as outer:
        assert "cannot write 'x.pth'" in describe_write_error(outer)
    torch_error = RuntimeError('[enforce fail at inline_container.cc:603] '
                               '. unexpected pos 64 vs 0')
    assert describe_write_error(torch_error).startswith(
        'writing a checkpoint failed (is the disk full?)')


def test_other_errors_are_not_write_errors():
    assert describe_write_error(ValueError('bug')) is None
    assert describe_write_error(OSError(errno.ENOENT, 'missing', 'f')) is None
    assert describe_write_error(RuntimeError('shape mismatch')) is None
