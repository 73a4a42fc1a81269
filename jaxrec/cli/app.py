"""What every command-line tool shares: parsing, help, one-line errors.

A mistake the user can fix (a jaxrec.errors.UserError, a bad flag, a config
file that is missing or fails, a misspelt --config.FIELD) ends the process
with one line on stderr, 'error: ...', and exit code 2, before the tool has
written anything. --debug (or JAXREC_DEBUG=1) raises it with its traceback
instead, for developers. Errors that are jaxrec's own bugs keep their
traceback either way.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, NoReturn, Sequence

from absl import app
from absl import flags

from jaxrec import distributed
from jaxrec.cli import config_files
from jaxrec.cli import config_help
from jaxrec.errors import UserError

USAGE_ERROR = 2  # The exit code of a user error (as argparse's).
# What a tool raises for arguments that do not fit together.
UsageError = app.UsageError
HELP_FLAGS = ('-h', '-?', '--help', '--helpshort', '--helpfull')

# Read from argv by debug_requested (an error can come from parsing itself);
# defined so that absl accepts it and --help lists it.
flags.DEFINE_bool(
    'debug', False, 'Show the traceback of errors instead of one line (also '
    'JAXREC_DEBUG=1).')


class FlagError(UserError):
  """A flag absl cannot parse (unknown, missing or of the wrong type)."""


def define_allow_data_change() -> flags.FlagHolder[bool]:
  """--allow_data_change, for tools that use a run with today's data."""
  return flags.DEFINE_bool(
      'allow_data_change', False,
      'Use the data config.data reads now even if it differs from the data '
      'the run was trained on (data_fingerprint.json); the difference is '
      'logged.')


@dataclasses.dataclass(frozen=True)
class DistributedFlags:
  """--coordinator_address, --num_processes, --process_id (define_distributed)."""

  coordinator_address: flags.FlagHolder[str]
  num_processes: flags.FlagHolder[int]
  process_id: flags.FlagHolder[int]

  def initialize(self, workdir: str | None) -> None:
    """Joins a multi-process run if the flags or a cluster ask for one
    (jaxrec.distributed); call it first in main, before JAX computes.

    Args:
      workdir: the --workdir given; a multi-process run needs one (each
        process would stamp its own default folder).
    """
    distributed.initialize(self.coordinator_address.value,
                           self.num_processes.value, self.process_id.value)
    if workdir is None and distributed.process_count() > 1:
      raise UsageError('A multi-process run needs --workdir: the same folder '
                       'on every process, on a filesystem they all see.')


def define_distributed() -> DistributedFlags:
  """The flags of a multi-process run, for tools that train or evaluate."""
  return DistributedFlags(
      flags.DEFINE_string(
          'coordinator_address', None, 'Multi-process run: HOST:PORT of '
          'process 0, the same on every process (default: from SLURM / Open '
          'MPI / Kubernetes when run under one; else one process).'),
      flags.DEFINE_integer(
          'num_processes', None, 'Multi-process run: how many processes '
          '(hosts) train together.', lower_bound=1),
      flags.DEFINE_integer(
          'process_id', None, 'Multi-process run: this process\'s index, 0 .. '
          '--num_processes - 1; process 0 writes the run\'s files.',
          lower_bound=0))


def debug_requested(argv: Sequence[str]) -> bool:
  """--debug or JAXREC_DEBUG=1, read before parsing (parsing can fail)."""
  return (os.environ.get('JAXREC_DEBUG', '') not in ('', '0') or
          any(a in ('--debug', '-debug', '--debug=true', '--debug=1')
              for a in argv))


def one_line(message: str) -> str:
  """The message with its lines joined (some libraries' messages wrap)."""
  return ' '.join(line.strip() for line in message.splitlines()
                  if line.strip())


def fail(message: str) -> NoReturn:
  """Prints 'error: MESSAGE' on stderr and exits with USAGE_ERROR."""
  sys.stdout.flush()
  print(f'error: {one_line(message)}', file=sys.stderr, flush=True)
  sys.exit(USAGE_ERROR)


def no_arguments(argv: Sequence[str]) -> None:
  """Refuses positional arguments of tools that take only flags."""
  if len(argv) > 1:
    raise UsageError(f'unexpected arguments {list(argv[1:])}; every input '
                     f'is a flag (--help lists them).')


def _print_help(doc: str, module: str, argv: Sequence[str],
                has_config: bool) -> None:
  """The tool's usage, its flags and, with a config, the config's fields."""
  helpfull = '--helpfull' in argv
  # A tool whose flags partly live in another tool's module names it in
  # FLAG_MODULES (jaxrec-sweep takes jaxrec-cross-validate's).
  shared = getattr(sys.modules.get(module), 'FLAG_MODULES', ())
  modules = (module, *shared, config_files.__name__, __name__)
  text = flags.FLAGS.get_help() if helpfull else '\n'.join(
      h for h in map(flags.FLAGS.module_help, modules) if h)
  print(f'{doc.rstrip()}\n\nflags:\n{text}')
  if has_config:
    print(f'\n{config_help.help_text(config_files.given_config(argv))}')
  if not helpfull:
    print('\nTry --helpfull to get a list of all flags.')


def _parse(argv: list[str], doc: str, module: str,
           has_config: bool) -> list[str]:
  """absl's flag parsing, with help and errors as these tools show them."""
  if has_config:
    argv = config_files.resolve_flag(argv)
  if any(a in HELP_FLAGS for a in argv):
    _print_help(doc, module, argv, has_config)
    sys.exit(0)
  if has_config:
    config_files.check(argv)  # Clean errors for the file and its fields.
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    raise FlagError(str(e)) from e


def run(main: Callable[[list[str]], Any], doc: str,
        has_config: bool = False) -> None:
  """Runs main(argv) after parsing flags, as absl's app.run does.

  Args:
    main: the tool's main; it may raise UserError or app.UsageError.
    doc: the tool's usage text (its module docstring), shown by --help.
    has_config: whether the tool takes --config (config_files.define_flags):
      its path is resolved, its file checked and its fields listed in
      --help.
  """
  debug = debug_requested(sys.argv)
  module = main.__module__

  def parse(argv):
    try:
      return _parse(list(argv), doc, module, has_config)
    except UserError as e:
      if debug:
        raise
      fail(str(e))

  def guarded_main(argv):
    try:
      main(argv)
    except (UserError, UsageError) as e:
      if debug:
        raise
      fail(str(e))

  try:
    app.run(guarded_main, flags_parser=parse)
  except BrokenPipeError:  # e.g. --help | head: the reader has left.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)
