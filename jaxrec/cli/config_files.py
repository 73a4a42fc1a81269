"""--config=FILE.py[:ARG]: where the file is, and its errors as one line.

ml_collections' config flag loads the file and applies --config.FIELD=VALUE
overrides while absl parses flags; its errors are tracebacks (a missing
file surfaces only when the config is first used). The tools therefore
resolve and load the file once themselves before absl parses, so that a
missing file, an error inside it, or a misspelt field is a ConfigError that
names the file or the field and the fix.

A path that does not exist, given as configs/NAME.py or NAME.py (or NAME),
is looked up in the installed `configs` package, so that the configs work
from any folder once jaxrec is installed.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import re
import traceback
from typing import Sequence

import ml_collections
from absl import flags
from ml_collections import config_flags

from jaxrec import config as config_lib
from jaxrec.errors import ConfigError, UserError

_CONFIG = re.compile(r'^--?config(=|$)')
_OVERRIDE = re.compile(r'^--?(no)?config\.([^=]+)')


def define_flags() -> tuple[flags.FlagHolder, flags.FlagHolder]:
  """--config and --show_config, for the tools that take a config file."""
  config = config_flags.DEFINE_config_file(
      'config', None, 'Config file, e.g. configs/lightgcn_synthetic.py or '
      'configs/lightgcn_synthetic.py:smoke (FILE.py:ARG selects a variant; a '
      'configs/NAME.py that is not here is read from the installed configs '
      'package). Override any field with --config.FIELD=VALUE; the fields '
      'are listed below.', lock_config=True)
  show = flags.DEFINE_bool(
      'show_config', False, 'Print the resolved config (the file with its '
      'overrides, each field with its comment), check it, and exit; no run '
      'folder is made.')
  flags.mark_flag_as_required('config')
  return config, show


def _find(argv: Sequence[str]) -> tuple[int, int] | None:
  """(index of --config, index of its value) in argv, or None."""
  for i, arg in enumerate(argv):
    if _CONFIG.match(arg):
      if '=' in arg:
        return i, i
      return (i, i + 1) if i + 1 < len(argv) else None
  return None


def installed_configs() -> list[str]:
  """The folders of the installed `configs` package (usually one)."""
  spec = importlib.util.find_spec('configs')
  return list(spec.submodule_search_locations or []) if spec else []


def resolve(path: str) -> str:
  """The config file `path` names: itself, or the installed configs' file.

  Raises ConfigError, with the closest shipped name, when neither exists.
  """
  if os.path.isfile(path):
    return path
  folder, name = os.path.split(os.path.normpath(path))
  if not name.endswith('.py'):
    name += '.py'
  shipped = {}
  if folder in ('', 'configs'):
    for location in installed_configs():
      shipped.update((n, os.path.join(location, n))
                     for n in sorted(os.listdir(location))
                     if n.endswith('.py') and not n.startswith('_'))
  if name in shipped:
    return shipped[name]
  close = difflib.get_close_matches(name, list(shipped), n=1)
  hint = (f'did you mean configs/{close[0]}?' if close else
          'pass the path of a config file, e.g. '
          'configs/lightgcn_synthetic.py.')
  raise ConfigError(f'--config={path}: no such file; {hint}')


def resolve_flag(argv: list[str]) -> list[str]:
  """argv with the --config path replaced by the file it resolves to."""
  found = _find(argv)
  if found is None:
    return argv
  i, j = found
  value = argv[j].split('=', 1)[1] if i == j else argv[j]
  path, sep, arg = value.partition(':')
  value = resolve(path) + sep + arg
  argv = list(argv)
  argv[j] = f'--config={value}' if i == j else value
  return argv


def _where(error: BaseException, path: str) -> str:
  """'FILE:LINE' of the deepest frame of `error` in the config file."""
  if isinstance(error, SyntaxError) and error.lineno:
    return f'{path}:{error.lineno}'
  lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
           if os.path.abspath(f.filename) == os.path.abspath(path)]
  return f'{path}:{lines[-1]}' if lines else path


def load(value: str) -> ml_collections.ConfigDict:
  """The locked config of FILE.py[:ARG], as the config flag loads it.

  Raises ConfigError naming the file (and line) for a missing file, a
  file without get_config, or an error raised while building the config
  (e.g. an unknown variant ARG, a misspelt field in the file).
  """
  path, sep, arg = value.partition(':')
  path = resolve(path)
  try:
    spec = importlib.util.spec_from_file_location('jaxrec_config_file', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, 'get_config'):
      raise ConfigError(f'{path} defines no get_config(); a config file '
                        f'returns its ConfigDict from get_config(arg=None).')
    config = module.get_config(arg) if sep else module.get_config()
  except UserError as e:
    raise ConfigError(f'--config={value}: {e}') from e
  except (SyntaxError, ValueError, TypeError, KeyError, AttributeError,
          ImportError, NameError) as e:
    raise ConfigError(f'{_where(e, path)}: {type(e).__name__}: {e} (--debug '
                      f'shows the traceback)') from e
  config.lock()
  return config


def given_config(argv: Sequence[str]) -> ml_collections.ConfigDict | None:
  """The config file argv names (without its overrides), or None."""
  found = _find(argv)
  if found is None:
    return None
  i, j = found
  return load(argv[j].split('=', 1)[1] if i == j else argv[j])


def check(argv: Sequence[str]) -> None:
  """Loads argv's config file and checks that each overridden field exists.

  Raises ConfigError for the file (see load) or the first unknown field.
  """
  config = given_config(argv)
  if config is None:
    raise ConfigError('--config is required, e.g. '
                      '--config=configs/lightgcn_synthetic.py:smoke (--help '
                      'lists the flags).')
  for arg in argv:
    match = _OVERRIDE.match(arg)
    if match:
      config_lib.get_field(config, match.group(2), '--config.')
