"""Process settings for the command-line tools: huge pages, run folders.

XLA:CPU allocates its temporary buffers afresh for every call, and glibc
hands large blocks back to the kernel when they are freed, so every training
step page-faults its way through tens of MB of new 4 KiB pages. With glibc's
transparent-huge-page option the same memory takes 512 times fewer faults.
Measured on a 2-core Xeon: a GRCN step at TikTok scale 174 -> 115 ms,
same code and process layout (jemalloc gives about the same).

glibc reads the option (GLIBC_TUNABLES) only when a process starts, so the
tools re-execute themselves once with it set. Set JAXREC_NO_REEXEC=1 to opt
out; nothing happens off Linux/glibc or where the option is already set.
"""

import contextlib
import os
import platform
import shutil
import sys
import time
from typing import Iterator

from jaxrec import workdir as workdir_lock
from jaxrec.errors import UserError

HUGE_PAGES = 'glibc.malloc.hugetlb=1'


def _glibc_supports_hugetlb() -> bool:
  """glibc >= 2.35 has the glibc.malloc.hugetlb tunable."""
  lib, version = platform.libc_ver()
  try:
    major, minor = (int(v) for v in version.split('.')[:2])
  except ValueError:
    return False
  return lib == 'glibc' and (major, minor) >= (2, 35)


def use_huge_pages() -> None:
  """Re-executes this command with glibc malloc on huge pages, if useful."""
  tunables = os.environ.get('GLIBC_TUNABLES', '')
  if (sys.platform != 'linux' or os.environ.get('JAXREC_NO_REEXEC') or
      HUGE_PAGES in tunables or not _glibc_supports_hugetlb()):
    return
  env = dict(os.environ, JAXREC_NO_REEXEC='1',
             GLIBC_TUNABLES=':'.join(t for t in (tunables, HUGE_PAGES) if t))
  # orig_argv keeps -c CODE and -m MODULE forms, which sys.argv loses.
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def default_workdir(config_path: str, prefix: str = '') -> str:
  """runs/[<prefix>-]<config name>[-<variant>]-<date>-<time>.

  Args:
    config_path: the --config value, e.g. configs/pane_gnn_ml100k.py:smoke.
    prefix: e.g. 'cv' for cross-validation folders.
  """
  path, _, variant = config_path.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  stamp = time.strftime('%Y%m%d-%H%M%S')
  return os.path.join('runs', '-'.join(
      p for p in (prefix, name, variant, stamp) if p))


def _holds_a_run(folder: str) -> bool:
  """Whether a run saved its config anywhere under `folder`."""
  return any('config.json' in files for _, _, files in os.walk(folder))


@contextlib.contextmanager
def run_folder(workdir: str) -> Iterator[str]:
  """Makes `workdir` (and its parents) for a run; undone on a user error.

  The tools check the config before they call this, but some mistakes show
  only while the data loads (a missing file, a model field the data cannot
  serve). If one raises a UserError before any run under `workdir` saved
  its config.json, the folders made here are removed again, so a failed
  command leaves no empty run folder behind. A folder that existed before,
  or that holds a run, is never touched.
  """
  made, parent = [], os.path.abspath(workdir)
  while not os.path.exists(parent):
    made.append(parent)
    parent = os.path.dirname(parent)
  os.makedirs(workdir, exist_ok=True)
  try:
    yield workdir
  except workdir_lock.WorkdirBusy:
    raise  # Another process works there: its folder is not ours to remove.
  except UserError:
    if made and not _holds_a_run(made[0]):
      shutil.rmtree(made[0], ignore_errors=True)
      for folder in made[1:]:  # Parents made here, if nothing else is in them.
        with contextlib.suppress(OSError):
          os.rmdir(folder)
    raise
