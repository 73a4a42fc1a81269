"""One process per workdir: a lock held while a run trains or evaluates in it.

Two processes on one workdir corrupt it: both append to metrics.jsonl and
both save checkpoints. Training, cross-validation and evaluate_workdir
(which writes eval_*.json) therefore hold WORKDIR/.jaxrec.lock for as long
as they run; a second process gets a one-line WorkdirBusy naming the holder.

Why fcntl.flock on a lock file, not a file created with O_CREAT | O_EXCL:
the kernel drops an flock when its holder exits, however it exits (SIGKILL,
the OOM killer, a machine reboot drops all of them). A stale lock is then
simply an unlocked file, and taking it over is the same atomic flock call
as taking a fresh one. An O_EXCL file outlives a killed holder, so it must
be judged stale from its pid, which the OS reuses and which cannot be
checked from another host, and two processes that both judge it stale race
to delete and recreate it.

The file holds one JSON line about its holder (host, pid, start time, what
it does), for the error message; the holder empties it on release. Finding
it non-empty when the lock is free means the previous holder died holding
it: the lock is taken over, with a warning that names that holder. The
file is never deleted: deleting a lock file while another process waits on
it would let a third lock a new file of the same name.

In a multi-process run (jaxrec.distributed) process 0 holds the lock for
all of them, and every process learns whether it got it: the run goes on,
or every process raises WorkdirBusy.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import time
from typing import Any, Iterator

from absl import logging

from jaxrec.errors import UserError

LOCK_FILE = '.jaxrec.lock'

# Workdirs this process holds (realpath -> nesting depth): the lock is
# re-entrant, since an flock on a second descriptor of the same file would
# conflict with this process's own first one.
_HELD: dict[str, int] = {}


class WorkdirBusy(UserError):
  """Another process is training or evaluating in the same workdir."""


def _holder(purpose: str) -> dict[str, Any]:
  """Who holds the lock: written into the lock file for error messages."""
  return {'host': socket.gethostname(), 'pid': os.getpid(),
          'started': datetime.datetime.now().isoformat(timespec='seconds'),
          'purpose': purpose,
          'command': ' '.join([os.path.basename(sys.argv[0] or 'python'),
                               *sys.argv[1:]])[:300]}


def _read_holder(fd: int) -> dict[str, Any] | None:
  """The holder record in the lock file, or None if it is empty."""
  text = os.pread(fd, 4096, 0).decode('utf-8', 'replace').strip()
  if not text:
    return None
  try:
    return json.loads(text)
  except ValueError:
    return {'purpose': f'unreadable lock record {text[:80]!r}'}


def describe(holder: dict[str, Any] | None) -> str:
  """'train (pid 123 on host h, started 2024-05-01T10:00:00)'."""
  if not holder:
    return 'another process (it has not recorded who it is yet)'
  return (f'{holder.get("purpose", "a jaxrec process")} (pid '
          f'{holder.get("pid", "?")} on host {holder.get("host", "?")}, '
          f'started {holder.get("started", "?")})')


def _busy(workdir: str, fd: int) -> WorkdirBusy:
  # The holder writes its record right after locking: give it a moment.
  holder = None
  for _ in range(20):
    holder = _read_holder(fd)
    if holder:
      break
    time.sleep(0.05)
  return WorkdirBusy(
      f'{workdir} is in use by {describe(holder)}. Wait for it to finish, '
      f'or use another --workdir.')


def _acquire(workdir: str, purpose: str) -> int | None:
  """Locks WORKDIR/LOCK_FILE; returns its descriptor (None: no locking)."""
  fd = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDWR | os.O_CREAT,
               0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      error = _busy(workdir, fd)
      os.close(fd)
      raise error from None
    os.close(fd)  # e.g. ENOLCK: a network filesystem without locks.
    logging.warning('Cannot lock %s (%s): nothing stops a second process '
                    'from using it at the same time.', workdir, e)
    return None
  stale = _read_holder(fd)
  if stale:
    logging.warning('Took over the lock of %s from %s, which ended without '
                    'releasing it.', workdir, describe(stale))
  record = (json.dumps(_holder(purpose)) + '\n').encode()
  os.ftruncate(fd, 0)
  os.pwrite(fd, record, 0)
  return fd


@contextlib.contextmanager
def lock(workdir: str, purpose: str) -> Iterator[None]:
  """Holds the workdir's lock for the `with` block.

  Args:
    workdir: an existing folder.
    purpose: what this process does there, for the error another process
      gets (e.g. 'train', 'evaluate', 'cross-validate').

  Raises:
    WorkdirBusy: another process holds the lock.
  """
  key = os.path.realpath(workdir)
  if key in _HELD:
    _HELD[key] += 1
    try:
      yield
    finally:
      _HELD[key] -= 1
    return
  # Imported here: jaxrec.distributed imports jax, and the tools import this
  # module (through jaxrec.runtime) before they re-execute themselves.
  from jaxrec import distributed  # pylint: disable=g-import-not-at-top
  fd, busy = None, None
  if distributed.is_primary():
    try:
      fd = _acquire(workdir, purpose)
    except WorkdirBusy as e:
      busy = e
  if not distributed.agree(float(busy is None)):  # Process 0's outcome.
    raise busy or WorkdirBusy(f'{workdir} is in use: process 0 of this run '
                              f'could not lock it (see its error).')
  _HELD[key] = 1
  try:
    yield
  finally:
    del _HELD[key]
    if fd is not None:
      os.ftruncate(fd, 0)  # Empty = released cleanly (not a stale lock).
      fcntl.flock(fd, fcntl.LOCK_UN)
      os.close(fd)
