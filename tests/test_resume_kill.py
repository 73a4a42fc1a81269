"""Resume after SIGKILL mid-epoch equals the uninterrupted run.

A child process trains the LightGCN smoke run (4 epochs, a checkpoint every
2) and blocks inside a chosen epoch, between two steps, after telling the
test so; the test SIGKILLs it there, resumes in the same workdir and
compares with a run that was never interrupted: the checkpoints' parameters,
and metrics.jsonl record for record (timings aside), so records the killed
process wrote after its last checkpoint must have been dropped, not kept
beside their redone copies.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from jaxrec import checkpoint
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child: the smoke run, blocking at (epoch, step) until killed.
_CHILD = textwrap.dedent('''
    import os, sys, time
    sys.path.insert(0, {repo!r})
    from jaxrec import sampling, train
    from tests.test_resume_kill import config

    original = sampling.BPRBatches.batch

    def batch(self, epoch, step):
      if (epoch, step) == ({epoch}, {step}):
        open({flag!r}, 'w').close()
        time.sleep(600)
      return original(self, epoch, step)

    sampling.BPRBatches.batch = batch
    train.train_and_evaluate(config(), {workdir!r})
''')


def config():
  """The run every test here trains: 4 epochs, evaluated every 2."""
  from configs import lightgcn_synthetic  # pylint: disable=g-import-not-at-top
  c = lightgcn_synthetic.get_config('smoke')
  c.unlock()
  c.num_epochs = 4
  c.eval_every_epochs = 2
  c.patience = 0
  return c


def _kill_inside(workdir, epoch, step, tmp_path):
  """Runs the child until it blocks at 0-based (epoch, step); SIGKILLs it."""
  flag = str(tmp_path / f'blocked_{epoch}_{step}')
  code = _CHILD.format(repo=REPO, epoch=epoch, step=step, flag=flag,
                       workdir=workdir)
  # The child inherits the platform of this process, which trains the runs
  # it is compared with.
  child = subprocess.Popen([sys.executable, '-c', code], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  try:
    deadline = time.monotonic() + 300
    while not os.path.exists(flag):
      if child.poll() is not None:
        pytest.fail('the child ended before blocking: ' +
                    child.stderr.read().decode()[-3000:])
      assert time.monotonic() < deadline, 'the child never blocked'
      time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
  finally:
    if child.poll() is None:
      child.kill()
    child.wait()
    child.stderr.close()
  assert child.returncode == -signal.SIGKILL


def _records(workdir):
  """metrics.jsonl without timings (they differ between any two runs)."""
  timing = ('seconds', 'per_sec', 'eta', 'elapsed')
  return [{k: v for k, v in r.items() if not any(t in k for t in timing)}
          for r in train.MetricsLog(workdir).read()]


def _params(workdir, which):
  task = tasks.build(config())
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  epoch = ckpts.latest_epoch() if which == 'latest' else ckpts.best_epoch()
  state, _ = ckpts.restore(epoch, train_state.abstract(task))
  ckpts.close()
  return epoch, np.asarray(state.params['embedding'])


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  """The uninterrupted run's workdir."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  train.train_and_evaluate(config(), workdir)
  return workdir


def _assert_same_run(resumed, straight_dir):
  for which in ('latest', 'best'):
    epoch, a = _params(resumed, which)
    want_epoch, b = _params(straight_dir, which)
    assert epoch == want_epoch
    np.testing.assert_array_equal(a, b)
  assert _records(resumed) == _records(straight_dir)


def _latest(workdir):
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  epoch = ckpts.latest_epoch()
  ckpts.close()
  return epoch


def _train_epochs(workdir):
  return [r['epoch'] for r in train.MetricsLog(workdir).read()
          if 'train/loss' in r]


def test_kill_mid_epoch_after_a_checkpoint(straight, tmp_path):
  """Killed in epoch 4 (step 1): checkpoint 2 is the latest, and epoch 3's
  record, written after it, must go before epoch 3 is redone."""
  workdir = str(tmp_path / 'run')
  _kill_inside(workdir, epoch=3, step=1, tmp_path=tmp_path)
  assert _latest(workdir) == 2
  assert _train_epochs(workdir) == [1, 2, 3]  # 3: after the checkpoint
  train.train_and_evaluate(config(), workdir)
  assert _train_epochs(workdir) == [1, 2, 3, 4]
  _assert_same_run(workdir, straight)


def test_kill_mid_epoch_before_the_first_checkpoint(straight, tmp_path):
  """Killed in epoch 2 (step 1), before any checkpoint: the rerun starts
  from scratch, so epoch 1's record of the killed attempt must go."""
  workdir = str(tmp_path / 'run')
  _kill_inside(workdir, epoch=1, step=1, tmp_path=tmp_path)
  assert _latest(workdir) is None
  assert _train_epochs(workdir) == [1]
  train.train_and_evaluate(config(), workdir)
  assert _train_epochs(workdir) == [1, 2, 3, 4]
  _assert_same_run(workdir, straight)
