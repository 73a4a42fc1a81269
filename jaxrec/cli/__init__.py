"""The command-line tools: console scripts, python -m jaxrec, launch/*.py.

  jaxrec-train --config=configs/lightgcn_synthetic.py:smoke
  python -m jaxrec train --config=configs/lightgcn_synthetic.py:smoke
  python launch/train.py --config=configs/lightgcn_synthetic.py:smoke

are the same command. Each tool is a module here with its flags and main
(train, evaluate, recommend, cross_validate, sweep, cv_table, ...); app.py holds what
they share (one-line errors with exit code 2, --debug, --help with the
config's fields), config_files.py the --config file, preflight.py the
config's checks before any folder is made.
"""

import difflib
import importlib
import sys

from jaxrec import runtime

# Explicit dispatch: command -> (module, whether it runs models). Tools that
# run models re-execute first with malloc on huge pages (jaxrec.runtime).
TOOLS = {
    'train': ('jaxrec.cli.train', True),
    'evaluate': ('jaxrec.cli.evaluate', True),
    'recommend': ('jaxrec.cli.recommend', True),
    'cross-validate': ('jaxrec.cli.cross_validate', True),
    'sweep': ('jaxrec.cli.sweep', True),
    'cv-table': ('jaxrec.cli.cv_table', False),
    'plot': ('jaxrec.cli.plot', False),
    'export': ('jaxrec.cli.export', True),
}


def launch(tool: str) -> None:
  """Runs a tool (a key of TOOLS) on sys.argv."""
  module, runs_models = TOOLS[tool]
  if runs_models:
    # Before the tool's module is imported: it imports jax, and the
    # re-execution should happen before anything is allocated.
    runtime.use_huge_pages()
  importlib.import_module(module).run()


# Console scripts (pyproject.toml [project.scripts]).
def train() -> None:
  launch('train')


def evaluate() -> None:
  launch('evaluate')


def recommend() -> None:
  launch('recommend')


def cross_validate() -> None:
  launch('cross-validate')


def sweep() -> None:
  launch('sweep')


def cv_table() -> None:
  launch('cv-table')


def plot() -> None:
  launch('plot')


def export() -> None:
  launch('export')


def main() -> None:
  """python -m jaxrec COMMAND [flags]."""
  commands = ', '.join(TOOLS)
  if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help'):
    print(f'usage: python -m jaxrec COMMAND [flags]\n  COMMAND: {commands}\n'
          f'  python -m jaxrec COMMAND --help lists its flags.')
    sys.exit(0 if len(sys.argv) >= 2 else 2)
  tool = sys.argv[1]
  if tool not in TOOLS:
    close = difflib.get_close_matches(tool, list(TOOLS), n=1)
    hint = f'did you mean {close[0]}? ' if close else ''
    print(f'error: unknown command {tool!r}; {hint}the commands are '
          f'{commands}.', file=sys.stderr)
    sys.exit(2)
  sys.argv = [f'python -m jaxrec {tool}', *sys.argv[2:]]
  launch(tool)
