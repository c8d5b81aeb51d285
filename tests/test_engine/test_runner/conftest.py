import pytest
from _pipeline_runs import run, write_resume_configs


@pytest.fixture(scope='session')
def finished_pipeline(tmp_path_factory):
    """One uninterrupted run of the tiny resume pipeline
    (``_pipeline_runs``), shared by the fault catalogue and the resume and
    console tests: ``(config, work_dir, Run)``."""
    tmp = tmp_path_factory.mktemp('finished')
    config = write_resume_configs(tmp)
    first = run(config, tmp / 'work', tmp / 'first')
    assert first.code == 0, (first.out + first.err)[-5000:]
    return config, tmp / 'work', first
