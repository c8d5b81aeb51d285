"""Run the project's command-line tools from tests, as a user would."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: tools/train.py and tools/test.py import their light helpers from here.
TOOLS = REPO / 'tools'
# One thread: steadier and faster than two next to other work.
ENV = dict(os.environ, OMP_NUM_THREADS='1')


def run_tool(*args,
             check: bool = True,
             timeout: int = 300,
             cwd=REPO,
             env=None) -> subprocess.CompletedProcess:
    """``python ARGS...`` in ``cwd`` (the repository root) with ``env``
    (:data:`ENV`); fail with the output's tail when ``check`` and the exit
    code is not 0."""
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=cwd,
                          env=ENV if env is None else env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def run_log(work_dir) -> str:
    """The text of every log file of the runs in ``work_dir``
    (``<timestamp>/<timestamp>.log``, oldest first): what the quiet console
    leaves out."""
    return ''.join(
        path.read_text() for path in sorted(Path(work_dir).glob('*/*.log')))
