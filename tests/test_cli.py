"""The command-line tools as users run them: errors, help, installed scripts.

Each tool runs in a fresh process from a temporary folder outside the
checkout, so that a stray runs/ folder would show, and configs/NAME.py is
found in the installed configs package.
"""

import os
import shutil
import subprocess
import sys

import pytest

from jaxrec import runtime
from jaxrec.cli import config_files
from jaxrec.cli import preflight
from jaxrec.errors import ConfigError, DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, 'launch', 'train.py')
SMOKE = '--config=configs/lightgcn_synthetic.py:smoke'


def _run(args, cwd, env=None, timeout=300):
  full = {k: v for k, v in os.environ.items() if k != 'JAXREC_DEBUG'}
  full.update(JAXREC_NO_REEXEC='1', **(env or {}))
  return subprocess.run(args, cwd=cwd, env=full, capture_output=True,
                        text=True, timeout=timeout)


USER_ERRORS = [  # train.py arguments, what the one line must say
    # Found by the tool before absl parses (the config file and its fields).
    (['--config=configs/does_not_exist.py'], 'does_not_exist.py: no such file'),
    ([SMOKE, '--config.learnin_rate=1'],
     'did you mean --config.learning_rate?'),
    # By absl, while parsing.
    ([SMOKE, '--config.learning_rate=abc'], '--config.learning_rate=abc'),
    # By the config's checks, before the run's folder is made.
    ([SMOKE, '--config.eval_ks=0'], 'config.eval_ks=(0,) must be'),
    # While the data loads and the model is built, after the folder is made.
    ([SMOKE, '--config.model.embed_dim=0'], 'config.model.embed_dim=0 must be'),
]


@pytest.mark.parametrize('args,says', USER_ERRORS)
def test_user_error_is_one_line_exit_2_and_leaves_no_folder(tmp_path, args,
                                                             says):
  proc = _run([sys.executable, TRAIN, *args], cwd=tmp_path)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert lines[-1].startswith('error: ') and says in lines[-1], lines[-1]
  assert 'Traceback' not in proc.stderr
  # Logged progress (data loaded) may come first; no other error lines.
  assert not [l for l in lines[:-1] if l.startswith(('error', 'E'))]
  assert os.listdir(tmp_path) == []  # No runs/ folder, not even empty.


def test_config_file_errors_name_the_file_or_field(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # Outside the checkout.
  argv = ['train.py']
  with pytest.raises(ConfigError, match='--config is required'):
    config_files.check(argv)
  with pytest.raises(ConfigError, match="did you mean configs/grcn_kwai.py"):
    config_files.resolve('configs/grcn_kwia.py')
  # configs/NAME.py and NAME are the installed configs package's files.
  installed = config_files.resolve('configs/grcn_kwai.py')
  assert config_files.resolve('grcn_kwai') == installed
  assert os.path.isfile(installed)
  with pytest.raises(ConfigError, match="Unknown config variant 'smok'"):
    config_files.check([*argv, '--config=configs/lightgcn_synthetic.py:smok'])
  with pytest.raises(ConfigError, match=r'config\.model has no field '
                     r"'embed_dims'; did you mean --config\.model\.embed_dim"):
    config_files.check([*argv, SMOKE, '--config.model.embed_dims=8'])
  config_files.check([*argv, SMOKE, '--config.model.embed_dim=8',
                      '--noconfig.log_test_every_eval'])


def _config_file(folder, line):
  """A config file whose sixth line is `line`."""
  path = folder / 'mine.py'
  path.write_text('from jaxrec import config as config_lib\n\n\n'
                  'def get_config():\n'
                  '  c = config_lib.base("lightgcn")\n'
                  f'  {line}\n'
                  '  return c\n')
  return str(path)


def test_config_file_with_a_mistake_names_its_line(tmp_path):
  path = _config_file(tmp_path, "c.model.embed_dim = int('sixty-four')")
  with pytest.raises(ConfigError, match=f'{path}:6: ValueError'):
    config_files.load(path)
  # A misspelt field in the file: the file is unlocked while it runs.
  path = _config_file(tmp_path, 'c.learnin_rate = 0.1')
  with pytest.raises(ConfigError, match=r'config\.learnin_rate is not a '
                     r'field.*did you mean config\.learning_rate\?'):
    preflight.check(config_files.load(path))


def test_debug_flag_and_variable_keep_the_traceback(tmp_path):
  bad = '--config=configs/lightgcn_synthetic.py:smok'
  for extra, env in (['--debug'], None), ([], {'JAXREC_DEBUG': '1'}):
    proc = _run([sys.executable, TRAIN, bad, *extra], cwd=tmp_path, env=env)
    assert proc.returncode != 0
    assert 'Traceback' in proc.stderr and 'smok' in proc.stderr


@pytest.mark.parametrize('k', ['0'])
def test_recommend_refuses_k_below_one(tmp_path, k):
  proc = _run([sys.executable, os.path.join(REPO, 'launch', 'recommend.py'),
               f'--workdir={tmp_path}', '--user=1', f'--k={k}'], cwd=tmp_path)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f'error: flag --k={k}: {k} is not a positive integer']


def test_show_config_prints_the_resolved_config_and_makes_no_folder(tmp_path):
  proc = _run([sys.executable, TRAIN, SMOKE, '--config.learning_rate=0.25',
               '--show_config'], cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '  learning_rate = 0.25\n' in proc.stdout
  assert '  model.embed_dim = 16\n' in proc.stdout  # The smoke variant's.
  assert 'Global batch, split across devices' in proc.stdout  # A comment.
  assert os.listdir(tmp_path) == []
  proc = _run([sys.executable, TRAIN, SMOKE, '--config.patience=-1',
               '--show_config'], cwd=tmp_path)
  assert proc.returncode == 2 and '  patience = -1\n' in proc.stdout
  assert proc.stderr.strip().startswith('error: config.patience=-1')


def test_help_lists_config_fields_with_their_comments(tmp_path):
  proc = _run([sys.executable, TRAIN, '--help'], cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = proc.stdout
  assert '--workdir' in out and 'show_config' in out and 'debug' in out
  assert '  batch_size = 2048\n      Global batch, split across' in out
  assert '  data.val_ratio = 0.1\n      Share of each user' in out
  assert 'model.embed_dim' not in out  # Depends on the model: needs --config.
  proc = _run([sys.executable, TRAIN, '--config=configs/grcn_movielens.py',
               '--help'], cwd=tmp_path)
  assert '  model.embed_dim = 64\n      dim_E (id embeddings)' in proc.stdout
  assert os.listdir(tmp_path) == []


def test_sweep_help_lists_the_cross_validation_flags_it_takes(tmp_path):
  """jaxrec-sweep's --sweep, --parallel and --folds live in the
  cross-validate tool's module; its --help must list them."""
  proc = _run([sys.executable, os.path.join(REPO, 'launch', 'sweep.py'),
               '--help'], cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for flag in ('--sweep:', '--parallel:', '--folds:', '--search:'):
    assert flag in proc.stdout


def test_run_folder_is_removed_after_a_user_error_unless_it_holds_a_run(
    tmp_path):
  made = tmp_path / 'runs' / 'a'
  with pytest.raises(DataError):
    with runtime.run_folder(str(made)):
      (made / 'train.log').write_text('started\n')
      raise DataError('bad file')
  assert os.listdir(tmp_path) == []  # runs/ too: this call made it.
  kept = tmp_path / 'kept'
  kept.mkdir()
  with pytest.raises(DataError):
    with runtime.run_folder(str(kept)):
      raise DataError('bad file')
  assert kept.is_dir()  # It was there before.
  ran = tmp_path / 'ran'
  with pytest.raises(DataError):
    with runtime.run_folder(str(ran)):
      (ran / 'config.json').write_text('{}')
      raise DataError('diverged')
  assert (ran / 'config.json').exists()  # A run's files are never removed.


def _install(tmp_path):
  """pip-installs a copy of the checkout (no dependencies) into a folder."""
  src = tmp_path / 'src'
  src.mkdir()
  for name in ('pyproject.toml', 'README.md', 'LICENSE'):
    shutil.copy(os.path.join(REPO, name), src)
  for name in ('jaxrec', 'configs'):
    shutil.copytree(os.path.join(REPO, name), src / name,
                    ignore=shutil.ignore_patterns('__pycache__'))
  target = tmp_path / 'site'
  proc = subprocess.run(
      # Build isolation: the build backend comes from the package index, as
      # in any pip install (a fresh venv may have no setuptools or wheel).
      [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
       f'--target={target}', str(src)],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return target


def test_installed_console_script_runs_outside_the_checkout(tmp_path):
  target = _install(tmp_path)
  licenses = [os.path.join(d, f) for d, _, files in os.walk(target)
              if '.dist-info' in d for f in files if f.startswith('LICENSE')]
  assert licenses, 'the LICENSE file is not in the package'
  with open(licenses[0]) as f:
    text = f.read()
  assert 'Apache License\n' in text and 'Version 2.0, January 2004' in text
  assert 'END OF TERMS AND CONDITIONS' in text  # The full text.
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  env = {'PYTHONPATH': str(target)}  # The installed copy, not the checkout.
  for command in ([str(target / 'bin' / 'jaxrec-train')],
                  [sys.executable, '-m', 'jaxrec', 'train']):
    proc = _run([*command, SMOKE, '--show_config'], cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "  model.name = 'lightgcn'\n" in proc.stdout
  proc = _run([sys.executable, '-m', 'jaxrec', 'trian'], cwd=elsewhere,
              env=env)
  assert proc.returncode == 2
  assert proc.stderr.startswith("error: unknown command 'trian'; did you "
                                'mean train?')
  proc = _run([sys.executable, '-c', 'import jaxrec, configs; '
               'print(jaxrec.__file__, configs.__file__)'], cwd=elsewhere,
              env=env)
  assert REPO not in proc.stdout and str(target) in proc.stdout
  assert os.listdir(elsewhere) == []
