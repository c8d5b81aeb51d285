"""QuietConsoleRunner: the console of the pipeline shows the step lines,
warnings and the report (with the test step's own time so far), every
step's log file everything (its config dump and hook table included);
``--verbose`` shows everything again. The tools build it for single configs
too, unless the config names another runner."""
import logging
import re

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmpretrain_osdtw.engine.runner import CONSOLE
from mmpretrain_osdtw.engine.runner.quiet_console_runner import (
    quiet_console, use_quiet_console)

#: The console of the tiny pipeline (8 steps) stays under this many lines.
MAX_LINES = 100


def test_the_console_filter_keeps_the_file_whole(tmp_path, capsys):
    log_file = tmp_path / 'run.log'
    logger = quiet_console(
        MMLogger.get_instance(
            'quiet_console_test', log_file=str(log_file), log_level='INFO'))
    quiet_console(logger)  # idempotent
    logger.info('Config:\nmodel = dict()')
    logger.info('[OSDTW] stage2: running (step 5 of 8)', extra=CONSOLE)
    logger.warning('a checkpoint misses keys')
    logger.warning('backbone.ln1.weight is skipped since its '
                   'requires_grad=False')
    logger.error('failed')
    console = capsys.readouterr().out
    assert 'Config:' not in console and 'is skipped since' not in console
    for line in ('stage2: running', 'misses keys', 'failed'):
        assert line in console
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    for line in ('Config:', 'stage2: running', 'is skipped since', 'failed'):
        assert line in text
    stream = [h for h in logger.handlers
              if not isinstance(h, logging.FileHandler)]
    assert len(stream[0].filters) == 2  # mmengine's and one ConsoleFilter


def test_the_pipeline_console_shows_the_steps_not_the_configs(
        finished_pipeline):
    work_dir, first = finished_pipeline[1:]
    console = first.out + first.err
    assert len(console.splitlines()) < MAX_LINES, console
    for token in ('Config:', 'Hooks will be executed', 'Epoch(train)',
                  'paramwise_options', 'Traceback'):
        assert token not in console, token
    steps = ('stage1_head', 'stage1_tail', 'fisher_cross', 'search',
             'stage2', 'assemble', 'refine', 'test')
    for k, step in enumerate(steps, 1):
        assert f'[OSDTW] {step}: running (step {k} of 8)' in console, step
        assert re.search(rf'\[OSDTW\] {step}: done in [\d.]+ s '
                         rf'\(step {k} of 8\)', console), step
    assert '| OSDTW (assembled + refined) |' in console  # the report
    assert re.search(r'\| test \(so far\) \| [\d.]+ \|', console)
    assert f'report: {work_dir}/test/report.md' in console
    assert f'logs: {work_dir}/<step>/<timestamp>/<timestamp>.log' in console
    # each training step's log (named on the console) has it all
    for step in ('stage1_head', 'stage2', 'refine'):
        path = re.search(rf'{step}: log in (\S+)', console).group(1)
        text = open(path).read()
        for token in ('Config:', 'Hooks will be executed', 'Epoch(train)'):
            assert token in text, (step, token)


@pytest.mark.parametrize('given, verbose, built', [
    (None, False, 'QuietConsoleRunner'),
    ('Runner', False, 'QuietConsoleRunner'),
    (None, True, 'Runner'),
    ('QuietConsoleRunner', True, 'Runner'),
    ('MyRunner', False, 'MyRunner'),
    ('MyRunner', True, 'MyRunner'),
])
def test_single_configs_get_the_quiet_runner(given, verbose, built):
    cfg = Config(dict(model=dict()) if given is None else dict(
        model=dict(), runner_type=given))
    use_quiet_console(cfg, verbose)
    assert cfg.runner_type == built
