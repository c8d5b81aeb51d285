"""Resumable execution of the protocol's jobs.

:func:`run_jobs` runs the jobs of :mod:`.jobs` as subprocesses, at most
``slots`` CPU threads at a time (a job takes :attr:`Job.threads` of them;
every subprocess gets ``OMP_NUM_THREADS`` = its threads), in priority
order among the jobs whose input files exist. A job whose result JSON
exists is skipped; a failed job is reported and the others go on; the
trainings resume from their last checkpoint (``--resume``) and the OSDTW
pipeline from its step ledger, so rerunning the same command after an
interruption continues where it stopped. Each job's output goes to
``<log_dir>/<seed>/<name>.log``; its result JSON is written atomically,
last.
"""
import os
import os.path as osp
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

from mmpretrain_osdtw.utils import atomic_json_dump
from .jobs import Job


class Executor:
    """Run jobs with resume.

    Args:
        jobs (Sequence[Job]): In priority order.
        result_path (callable): ``job -> path`` of its result JSON.
        log_dir (str): Where the job logs go.
        slots (int): CPU threads in use at most (``--jobs``).
        env (dict): Extra environment of every subprocess.
        cwd (str): The working directory (the repository).
        poll_s (float): Seconds between scheduling rounds.
        log (callable): Where the progress lines go.
        slots_file (str, optional): A file holding a whole number that
            replaces ``slots`` from the next scheduling round on while it
            exists (running jobs go on; new ones start only below the new
            limit): free a core for other work without stopping the run.
    """

    def __init__(self,
                 jobs: Sequence[Job],
                 result_path: Callable[[Job], str],
                 log_dir: str,
                 slots: int,
                 env: Dict[str, str],
                 cwd: str,
                 poll_s: float = 2.0,
                 log: Optional[Callable[[str], None]] = None,
                 slots_file: Optional[str] = None) -> None:
        if slots < 1:
            raise ValueError(f'--jobs must be >= 1, got {slots}')
        self.jobs = list(jobs)
        self.result_path = result_path
        self.log_dir = log_dir
        self.slots = slots
        self.env = dict(env)
        self.cwd = cwd
        self.poll_s = poll_s
        self._log = log or (lambda m: print(m, flush=True))
        self.slots_file = slots_file
        self.lock = threading.Lock()
        self.state: Dict[str, str] = {}

    def current_slots(self) -> int:
        """``slots``, or the number in ``slots_file`` while it holds one
        (>= 1); a change is logged once."""
        if self.slots_file is None or not osp.isfile(self.slots_file):
            return self.slots
        try:
            with open(self.slots_file, encoding='utf-8') as f:
                wanted = int(f.read().strip())
        except (OSError, ValueError):
            return self.slots
        wanted = max(1, wanted)
        if wanted != getattr(self, '_announced', self.slots):
            self.log(f'{self.slots_file}: {wanted} thread(s) at a time')
        self._announced = wanted
        return wanted

    def log(self, message: str) -> None:
        with self.lock:
            self._log(f'[{time.strftime("%H:%M:%S")}] {message}')

    def job_log(self, job: Job) -> str:
        return osp.join(self.log_dir, *job.key.split('/')) + '.log'

    def run_one(self, job: Job) -> None:
        """Run a job's steps, then write its result JSON."""
        path = self.job_log(job)
        os.makedirs(osp.dirname(path), exist_ok=True)
        threads = str(job.threads)
        seconds: Dict[str, float] = {}
        try:
            with open(path, 'a', encoding='utf-8') as log:
                for step in job.steps():
                    argv = step.command()
                    env = dict(os.environ)
                    env.update(self.env)
                    env.update(step.env)
                    env.update(
                        OMP_NUM_THREADS=threads,
                        MKL_NUM_THREADS=threads,
                        PYTHONWARNINGS='ignore')
                    log.write(f'\n$ {" ".join(argv)}\n')
                    log.flush()
                    start = time.time()
                    proc = subprocess.run(
                        argv,
                        cwd=self.cwd,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT)
                    seconds[step.label] = round(time.time() - start, 2)
                    if proc.returncode != 0:
                        raise RuntimeError(
                            f'{step.label} exited with {proc.returncode} '
                            f'(see {path})')
            atomic_json_dump(job.finish(seconds), self.result_path(job))
            self.state[job.key] = 'done'
            self.log(f'{job.key}: done in {sum(seconds.values()):.0f} s')
        except Exception as err:  # report it; the other jobs go on
            self.state[job.key] = 'failed'
            self.log(f'{job.key}: FAILED: {err}')

    def ready(self, job: Job) -> bool:
        return all(osp.isfile(d) for d in job.deps)

    def run(self) -> int:
        """Run every pending job; 0 when all are done, else 1."""
        for job in self.jobs:
            done = osp.isfile(self.result_path(job))
            self.state[job.key] = 'done' if done else 'pending'
        todo = [j for j in self.jobs if self.state[j.key] == 'pending']
        self.log(f'{len(self.jobs)} jobs, {len(self.jobs) - len(todo)} '
                 f'already done, {self.slots} threads at a time')
        running: Dict[str, threading.Thread] = {}
        threads_of = {j.key: min(j.threads, self.slots) for j in self.jobs}
        waiting: Dict[str, str] = {}
        while True:
            for key in [k for k, t in running.items() if not t.is_alive()]:
                del running[key]
            pending = [j for j in todo if self.state[j.key] == 'pending']
            if not pending and not running:
                break
            ready = [j for j in pending if self.ready(j)]
            if not ready and not running:
                for job in pending:
                    missing = [d for d in job.deps if not osp.isfile(d)]
                    self.log(f'{job.key}: BLOCKED (missing {missing})')
                break
            used = sum(threads_of[k] for k in running)
            slots = self.current_slots()
            for job in ready:
                need = min(job.threads, slots)
                if used + need > slots:
                    break  # keep the priority order: no overtaking
                reason = job.wait() if job.wait is not None else None
                if reason is not None:
                    if waiting.get(job.key) != reason:
                        self.log(f'{job.key}: waiting: {reason}')
                    waiting[job.key] = reason
                    break
                self.state[job.key] = 'running'
                self.log(f'{job.key}: start')
                thread = threading.Thread(target=self.run_one, args=(job, ))
                thread.start()
                running[job.key] = thread
                used += need
            time.sleep(self.poll_s)
        failed = [j.key for j in todo if self.state[j.key] != 'done']
        self.log(f'finished: {len(todo) - len(failed)} jobs done, '
                 f'{len(failed)} failed or blocked' +
                 (f': {failed}' if failed else ''))
        return 1 if failed else 0


def pending_jobs(jobs: Sequence[Job],
                 result_path: Callable[[Job], str]) -> List[Job]:
    """The jobs without a result JSON (what a run would do)."""
    return [j for j in jobs if not osp.isfile(result_path(j))]
