"""One process per workdir: a second one is refused, naming the holder; a
lock left by a killed process is taken over."""

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from jaxrec import cross_validation
from jaxrec import evaluate
from jaxrec import train
from jaxrec import workdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_HOLD = textwrap.dedent('''
    import sys
    sys.path.insert(0, {repo!r})
    from jaxrec import workdir
    with workdir.lock({path!r}, 'train'):
      print('LOCKED', flush=True)
      sys.stdin.read()  # Holds the lock until the test closes stdin.
''')


def _hold(path):
  """A subprocess that holds path's lock until killed or its stdin closes."""
  proc = subprocess.Popen(
      [sys.executable, '-c', _HOLD.format(repo=REPO, path=str(path))],
      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == 'LOCKED'
  return proc


def _files(path):
  """{name: bytes} of the files a run keeps at the top of its workdir."""
  return {n: (path / n).read_bytes() for n in sorted(os.listdir(path))
          if (path / n).is_file() and n != workdir.LOCK_FILE}


def test_second_process_is_refused_and_a_killed_holder_is_taken_over(
    smoke_config, tmp_path, caplog):
  smoke_config.num_epochs = 1
  train.train_and_evaluate(smoke_config, str(tmp_path))
  before = _files(tmp_path)
  assert 'metrics.jsonl' in before and 'config.json' in before
  smoke_config.num_epochs = 2  # A resume would train and rewrite both.

  holder = _hold(tmp_path)
  try:
    for attempt in (
        lambda: train.train_and_evaluate(smoke_config, str(tmp_path)),
        lambda: evaluate.evaluate_workdir(str(tmp_path), 'test')):
      with pytest.raises(workdir.WorkdirBusy) as err:
        attempt()
      message = str(err.value)
      assert '\n' not in message
      assert f'pid {holder.pid}' in message
      assert socket.gethostname() in message and 'started ' in message
    assert _files(tmp_path) == before  # Nothing written, nothing lost.
    assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['1']
  finally:
    holder.send_signal(signal.SIGKILL)  # Dies holding it: a stale lock.
    holder.wait()

  record = (tmp_path / workdir.LOCK_FILE).read_text()
  assert f'"pid": {holder.pid}' in record  # The dead holder's record stays.
  caplog.set_level('WARNING')
  train.train_and_evaluate(smoke_config, str(tmp_path))
  assert any('Took over the lock' in r.getMessage() and
             f'pid {holder.pid}' in r.getMessage() for r in caplog.records)
  assert '2' in os.listdir(tmp_path / 'checkpoints')  # It trained on.
  # Released cleanly: the next process finds no stale record.
  assert (tmp_path / workdir.LOCK_FILE).read_text() == ''


def test_cross_validation_holds_its_folder(smoke_config, tmp_path):
  holder = _hold(tmp_path)
  try:
    with pytest.raises(workdir.WorkdirBusy, match=f'pid {holder.pid}'):
      cross_validation.run(smoke_config, str(tmp_path), num_seeds=1)
    assert sorted(os.listdir(tmp_path)) == [workdir.LOCK_FILE]
  finally:
    holder.stdin.close()  # Releases it cleanly.
    holder.wait()
  assert (tmp_path / workdir.LOCK_FILE).read_text() == ''


def test_the_lock_is_reentrant_within_a_process(tmp_path):
  with workdir.lock(str(tmp_path), 'cross-validate'):
    with workdir.lock(str(tmp_path), 'train'):
      pass
    # Still held by the outer block: another process is refused.
    proc = subprocess.run(
        [sys.executable, '-c', _HOLD.format(repo=REPO, path=str(tmp_path))],
        input='', capture_output=True, text=True, timeout=60)
    assert 'WorkdirBusy' in proc.stderr and 'cross-validate' in proc.stderr
