"""Run the project's command-line tools from tests, as a user would."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# One thread: steadier and faster than two next to other work.
ENV = dict(os.environ, OMP_NUM_THREADS='1')


def run_tool(*args,
             check: bool = True,
             timeout: int = 300) -> subprocess.CompletedProcess:
    """``python ARGS...`` in the repository root; fail with the output's
    tail when ``check`` and the exit code is not 0."""
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=REPO,
                          env=ENV,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc
