"""Files written whole: aside, then renamed, so a reader never sees half.

In a multi-process run (jaxrec.distributed) only process 0 writes: every
process computes the same value, and one writer per file keeps them from
racing on a shared disk.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from jaxrec import distributed


def write_atomically(path: str, write: Callable[[str], None]) -> None:
  """Calls write(tmp_path), then renames the temporary file to `path` (on
  process 0 only)."""
  if not distributed.is_primary():
    return
  tmp = f'{path}.tmp-{os.getpid()}'
  write(tmp)
  os.replace(tmp, path)


def write_json(path: str, value: Any) -> None:
  """`value` as indented JSON at `path`, written atomically."""
  def write(tmp: str) -> None:
    with open(tmp, 'w') as f:
      json.dump(value, f, indent=2)
  write_atomically(path, write)
