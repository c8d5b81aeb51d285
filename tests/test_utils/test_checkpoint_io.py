"""Checkpoints load without running code from them: a pickle that names a
function (here ``open``, which would create a file) is refused through
every way the plug-in loads a checkpoint, loads with a warning when
checkpoints are trusted, and an ordinary mmengine checkpoint (message hub,
RNG states) loads and resumes without one."""
import copy
import functools
import http.server
import pickle
import threading
import warnings

import numpy as np
import pytest
import torch
from _tools import REPO, run_tool
from mmengine.runner import CheckpointLoader, load_checkpoint

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.apis import build_model, build_runner, load_config
from mmpretrain_osdtw.models.classifiers import split_task_pair_checkpoint
from mmpretrain_osdtw.models.more import merge_checkpoint_file
from mmpretrain_osdtw.models.utils import set_backbone_init
from mmpretrain_osdtw.utils import (InputError, UntrustedCheckpointError,
                                    load_checkpoint_file, trust_checkpoints)

CONFIG = REPO / 'configs/baselines/digits_lt/vit-nano-p2_ce.py'


class CreatesFile:
    """Unpickles as ``open(path, 'w')``: the file appears if it ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, 'w')


class ReachesTofile:
    """Unpickles as ``getattr(np.ndarray, 'tofile')``."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


@pytest.fixture
def untrusted():
    """Checkpoints refused (the default); trust switched off afterwards."""
    trust_checkpoints(False)
    yield
    trust_checkpoints(False)


@pytest.fixture(scope='module')
def cfg():
    return load_config(str(CONFIG))


@pytest.fixture
def evil(tmp_path, cfg):
    """Real weights of the Digits-LT model plus a ``meta`` entry that
    creates ``marker`` when unpickled; returns ``(checkpoint, marker)``."""
    marker = tmp_path / 'ran.txt'
    path = tmp_path / 'evil.pth'
    torch.save(
        dict(
            state_dict=build_model(cfg).state_dict(),
            meta=dict(epoch=1, note=CreatesFile(marker))), path)
    return path, marker


def assert_refused(err, path, name="'io.open'"):
    message = str(err.value)
    assert isinstance(err.value, InputError)
    assert message == (f'checkpoint {str(path)!r} holds {name}, which loading '
                       'would run; load it only if you trust it: '
                       '--trust-checkpoint')


def test_mmengine_load_checkpoint_refuses(untrusted, evil, cfg):
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError) as err:
        load_checkpoint(build_model(cfg), str(path))
    assert_refused(err, path)
    assert not marker.exists()


def test_init_cfg_pretrained_refuses(untrusted, evil, cfg):
    path, marker = evil
    model_cfg = copy.deepcopy(cfg)
    set_backbone_init(model_cfg.model, str(path))
    model = build_model(model_cfg)
    with pytest.raises(UntrustedCheckpointError) as err:
        model.init_weights()
    assert_refused(err, path)
    assert not marker.exists()


def test_runner_load_from_refuses(untrusted, evil, cfg, tmp_path):
    path, marker = evil
    run_cfg = copy.deepcopy(cfg)
    run_cfg.work_dir = str(tmp_path / 'work')
    run_cfg.load_from = str(path)
    with pytest.raises(UntrustedCheckpointError) as err:
        build_runner(run_cfg).test()
    assert_refused(err, path)
    assert not marker.exists()


def test_task_pair_split_and_more_merge_refuse(untrusted, evil, tmp_path):
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError) as err:
        split_task_pair_checkpoint(str(path), 'head', str(tmp_path / 'h.pth'))
    assert_refused(err, path)
    with pytest.raises(UntrustedCheckpointError) as err:
        merge_checkpoint_file(str(path), str(tmp_path / 'merged.pth'))
    assert_refused(err, path)
    assert not marker.exists()


def test_url_refuses(untrusted, evil, tmp_path, monkeypatch):
    path, marker = evil
    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2))), good)
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        loaded = CheckpointLoader.load_checkpoint(f'{url}/good.pth')
        assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
        with pytest.raises(UntrustedCheckpointError) as err:
            CheckpointLoader.load_checkpoint(f'{url}/evil.pth')
    finally:
        server.shutdown()
        server.server_close()
    assert_refused(err, tmp_path / 'hub/checkpoints/evil.pth')
    assert not marker.exists()


def test_getattr_only_reaches_history_buffer_methods(untrusted, tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=dict(x=ReachesTofile())), path)
    with pytest.raises(UntrustedCheckpointError) as err:
        load_checkpoint_file(str(path))
    assert_refused(err, path, "'builtins.getattr'")


def test_trusted_checkpoint_loads_with_a_warning(untrusted, evil):
    path, marker = evil
    trust_checkpoints()
    with pytest.warns(
            UserWarning,
            match=f"checkpoint '{path}' holds "
            "'io.open': loading it with weights_only=False"):
        ckpt = load_checkpoint_file(str(path))
    assert 'backbone.ln1.weight' in ckpt['state_dict']
    assert marker.exists()  # trusted: what it names ran


def test_tool_refuses_in_one_line(evil, tmp_path):
    path, marker = evil
    proc = run_tool(
        'tools/test.py',
        CONFIG,
        path,
        '--work-dir',
        tmp_path / 'work',
        check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert errors == [
        f"error: checkpoint '{path}' holds 'io.open', which "
        'loading would run; load it only if you trust it: '
        '--trust-checkpoint'
    ], proc.stderr[-2000:]
    assert not marker.exists()


def test_ordinary_checkpoint_resumes_without_warning(untrusted, cfg, tmp_path):
    run_cfg = copy.deepcopy(cfg)
    run_cfg.work_dir = str(tmp_path / 'work')
    run_cfg.train_cfg.max_epochs = 2
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator'):
        run_cfg[key] = None
    build_runner(run_cfg).train()
    first = tmp_path / 'work/epoch_1.pth'
    ckpt = load_checkpoint_file(str(first))
    assert {'message_hub', 'rng_states', 'optimizer'} <= set(ckpt)
    assert isinstance(ckpt['rng_states']['numpy'][1], np.ndarray)
    run_cfg.update(resume=True, load_from=str(first))
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*weights_only')
        runner = build_runner(run_cfg)
        runner.train()
    assert runner.epoch == 2


def test_not_a_checkpoint_is_no_refusal(untrusted, tmp_path):
    path = tmp_path / 'garbage.pth'
    path.write_bytes(b'not a checkpoint')
    trust_checkpoints()  # no retry without weights_only either
    with pytest.raises(
            pickle.UnpicklingError,
            match='^weights-only unpickling failed: Unsupported operand '
            '110$'):
        load_checkpoint_file(str(path))


def test_tool_flag_trusts_the_checkpoint(evil, tmp_path):
    path, marker = evil
    out = tmp_path / 'merged.pth'
    proc = run_tool('tools/more_merge.py', path, out, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith('--trust-checkpoint')
    assert not marker.exists()
    proc = run_tool(
        'tools/more_merge.py', path, out, '--trust-checkpoint', check=False)
    assert proc.returncode == 2  # loaded: not a MORE checkpoint
    assert 'loading it with weights_only=False' in proc.stderr
    assert 'has no MORE layer' in proc.stderr
    assert marker.exists()
