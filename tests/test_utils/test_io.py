"""Tests of the artifact file helpers: digests, checkpoint checks and
load errors that name the file."""
import hashlib

import pytest
import torch

from mmpretrain_osdtw.utils import (check_digest, file_digest, naming_file,
                                    unreadable_checkpoint)


def test_file_digest_and_check(tmp_path):
    path = tmp_path / 'a.bin'
    path.write_bytes(b'x' * 3_000_000)  # several hash chunks
    digest = file_digest(str(path))
    assert digest == dict(
        size=3_000_000, sha256=hashlib.sha256(b'x' * 3_000_000).hexdigest())
    assert check_digest(str(path), digest) is None
    path.write_bytes(b'x' * 2_999_999 + b'y')
    assert 'changed' in check_digest(str(path), digest)
    path.write_bytes(b'x' * 10)
    assert check_digest(str(path), digest).startswith('truncated (10 bytes')
    path.unlink()
    assert check_digest(str(path), digest) == 'missing'


def test_unreadable_checkpoint(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=dict(w=torch.arange(1000.))), path)
    assert unreadable_checkpoint(str(path)) is None
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert 'not a complete torch.save file' in unreadable_checkpoint(str(path))
    corrupted = bytearray(data)
    at = data.index(torch.arange(1000.).numpy().tobytes()[:64]) + 100
    corrupted[at] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    assert 'fails its CRC check' in unreadable_checkpoint(str(path))
    assert unreadable_checkpoint(str(tmp_path / 'none.pth')) == 'missing'


def test_naming_file(tmp_path):
    path = tmp_path / 'x.pth'
    path.write_bytes(b'junk')
    with pytest.raises(
            ValueError, match=f'{path}: cannot be loaded as a '
            'checkpoint'):
        with naming_file(str(path)):
            torch.load(path)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        with naming_file(str(tmp_path / 'none.pth')):
            pass
