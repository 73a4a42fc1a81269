"""docs/adding_a_model.md works as written: its model trains through the spec."""

import os
import re
import types

import pytest

from jaxrec import config as config_lib
from jaxrec import models
from jaxrec import train

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   'docs', 'adding_a_model.md')


def _blocks() -> list[str]:
  with open(DOC) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), re.S)


def _module(name: str, source: str) -> types.ModuleType:
  module = types.ModuleType(name)
  exec(compile(source, DOC, 'exec'), module.__dict__)  # pylint: disable=exec-used
  return module


@pytest.fixture
def mf(monkeypatch):
  """The page's model, registered as 'mf' for this test only."""
  module = _module('mf_from_docs', _blocks()[0])
  monkeypatch.setitem(models.MODELS, 'mf', module.SPEC)
  return module


def test_the_documented_model_beats_mostpop_on_planted_data(mf, tmp_path):
  c = config_lib.base('mf')
  s = c.data.synthetic
  s.num_users, s.num_items, s.num_clusters = 120, 80, 4
  s.interactions_per_user = 10.0
  c.learning_rate = 1e-2
  c.batch_size = 256
  c.num_epochs = 40
  c.eval_every_epochs = 10
  c.lock()
  result = train.train_and_evaluate(c, str(tmp_path))
  final = train.MetricsLog(str(tmp_path)).read()[-1]
  assert c.model.to_dict() == {'embed_dim': 32, 'name': 'mf'}
  assert result['test/recall@10'] > (
      final['baseline/MostPop/recall@10'] + 0.1)


def test_the_documented_config_builds_and_stays_locked(mf):
  del mf
  config = _module('mf_config_from_docs', _blocks()[1]).get_config('smoke')
  assert (config.model.name, config.model.embed_dim, config.num_epochs) == (
      'mf', 64, 2)
  with pytest.raises(AttributeError):
    config.model.embed_dimm = 8
