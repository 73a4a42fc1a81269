"""Files written whole: aside, then renamed, so a reader never sees half."""

from __future__ import annotations

import json
import os
from typing import Any, Callable


def write_atomically(path: str, write: Callable[[str], None]) -> None:
  """Calls write(tmp_path), then renames the temporary file to `path`."""
  tmp = f'{path}.tmp-{os.getpid()}'
  write(tmp)
  os.replace(tmp, path)


def write_json(path: str, value: Any) -> None:
  """`value` as indented JSON at `path`, written atomically."""
  def write(tmp: str) -> None:
    with open(tmp, 'w') as f:
      json.dump(value, f, indent=2)
  write_atomically(path, write)
