"""Every config value is checked before any work, by the owner of its part.

Run-level fields: jaxrec.tasks.base.check_config; config.data:
jaxrec.data.pipeline.check_config; config.model: the model's create(). Each
error is one ConfigError naming the field, its value and a fix.
"""

import math
import os

import pytest

from jaxrec import checks
from jaxrec import config as config_lib
from jaxrec import models
from jaxrec import tasks
from jaxrec import train
from jaxrec.data import config as data_config
from jaxrec.data import pipeline
from jaxrec.errors import ConfigError, DataError
from jaxrec.tasks import base


def test_rule_accepts_its_interval_only():
  assert checks.POSITIVE_INT.accepts(1)
  for bad in (0, -4, 1.5, True, None, '3'):
    assert not checks.POSITIVE_INT.accepts(bad), bad
  assert checks.FRACTION.accepts(0.0) and checks.FRACTION.accepts(0.99)
  for bad in (1.0, -0.1, math.nan, math.inf):
    assert not checks.FRACTION.accepts(bad), bad
  assert not checks.FINITE.accepts(math.nan)
  assert str(checks.POSITIVE_INT) == 'an integer >= 1'
  assert str(checks.FRACTION) == 'a number in [0, 1)'


RUN_FIELDS = [  # field, a value that cannot work
    ('seed', -1), ('learning_rate', 0.0), ('learning_rate', -1e-3),
    ('batch_size', -1), ('num_epochs', 0), ('l2_weight', -1e-4),
    ('num_negatives', 0), ('negative_power', -1.0), ('negative_power', math.nan),
    ('num_devices', -1), ('eval_every_epochs', 0), ('log_every_epochs', 0),
    ('eval_chunk_size', 0), ('patience', -1), ('negative_sampling', 'hard'),
    ('train_examples', 'per_user'),
]


@pytest.mark.parametrize('field,value', RUN_FIELDS)
def test_run_level_field_is_refused_by_name(smoke_config, field, value):
  smoke_config[field] = value
  names = tasks.KINDS['user_item'].metric_names(smoke_config)
  with pytest.raises(ConfigError, match=rf'^config\.{field}=') as e:
    base.check_config(smoke_config, None, names)
  assert '\n' not in str(e.value)
  assert f'--config.{field}' in str(e.value)  # The fix names the flag.


def test_eval_ks_zero_blames_eval_ks_not_selection_metric(smoke_config):
  smoke_config.eval_ks = (0,)
  names = tasks.KINDS['user_item'].metric_names(smoke_config)
  with pytest.raises(ConfigError, match=r'^config\.eval_ks=\(0,\)'):
    base.check_config(smoke_config, None, names)


DATA_FIELDS = [  # (field, value), ... set together; the field blamed
    ({'test_ratio': 1.0}, 'test_ratio'),
    ({'val_ratio': -0.1}, 'val_ratio'),
    ({'split_seed': -1}, 'split_seed'),
    ({'threshold': math.nan}, 'threshold'),
    ({'duplicates': 'drop'}, 'duplicates'),
    ({'split_order': 'newest'}, 'split_order'),
    ({'split': 'kfold', 'num_folds': 1}, 'num_folds'),
    ({'split': 'kfold', 'fold': 5}, 'fold'),
    ({'synthetic.num_items': 1}, 'synthetic.num_items'),
    ({'synthetic.in_cluster': 1.5}, 'synthetic.in_cluster'),
    ({'synthetic.num_clusters': 300}, 'synthetic.num_clusters'),
    ({'format': 'grcn', 'grcn.synthetic_users': 0}, 'grcn.synthetic_users'),
    ({'item_graph.min_count': -1}, 'item_graph.min_count'),
    ({'item_graph.toy.p_in': 2.0}, 'item_graph.toy.p_in'),
]


@pytest.mark.parametrize('values,blamed', DATA_FIELDS)
def test_data_field_is_refused_by_name(values, blamed):
  cfg = data_config.default_config()
  for key, value in values.items():
    *parents, name = key.split('.')
    part = cfg
    for p in parents:
      part = part[p]
    part[name] = value
  with pytest.raises(ConfigError, match=rf'^config\.data\.{blamed}='):
    pipeline.check_config(cfg)


def test_every_shipped_config_passes_the_checks():
  folder = os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'configs')
  names = sorted(f[:-3] for f in os.listdir(folder)
                 if f.endswith('.py') and f not in ('__init__.py', 'common.py'))
  assert len(names) > 10
  for name in names:
    module = __import__(f'configs.{name}', fromlist=['get_config'])
    for arg in (None, 'smoke'):
      config = module.get_config(arg)
      kind = tasks.KINDS[models.get(config.model.name).task]
      base.check_config(config, None, kind.metric_names(config))
      pipeline._check_fields(config.data)  # pylint: disable=protected-access


MODEL_FIELDS = [  # model, field, value
    *[(m, 'embed_dim', v) for m in sorted(models.MODELS) for v in (0, -4)],
    *[(m, 'propagation', 'dense') for m in sorted(models.MODELS)],
    ('lightgcn', 'num_layers', -1), ('siren', 'dropout', 1.0),
    ('siren', 'feedback_coef', -2.0), ('pane_gnn', 'dropout', -0.1),
    ('pane_gnn', 'contrastive_weight', -1.0), ('pane_gnn', 'temperature', 0.0),
    ('pane_gnn', 'filter_threshold', math.nan), ('grcn', 'content_dim', 0),
    ('grcn', 'edge_dropout', 1.0), ('grcn', 'num_routing', -1),
    ('gcn_link', 'hidden_dim', 0), ('gcn_link', 'neg_ratio', 0),
    ('pane_gnn', 'init', 'xavier'), ('siren', 'init', 'pytorch'),
]


@pytest.mark.parametrize('model,field,value', MODEL_FIELDS)
def test_model_create_refuses_its_fields_before_touching_data(model, field,
                                                               value):
  config = config_lib.base(model)
  config.model[field] = value
  # data=None: create() must refuse the field before it reads the data.
  with pytest.raises(ConfigError, match=rf'^config\.model\.{field}='):
    models.get(model).create(config, None)


@pytest.mark.parametrize('embed_dim', [0, -4])
def test_bad_embed_dim_fails_before_the_run_writes_anything(smoke_config,
                                                            tmp_path,
                                                            embed_dim):
  smoke_config.model.embed_dim = embed_dim
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=f'embed_dim={embed_dim}'):
    train.train_and_evaluate(smoke_config, str(workdir))
  written = set(os.listdir(workdir)) if workdir.exists() else set()
  assert not written & {'config.json', 'metrics.jsonl', 'checkpoints'}


def test_data_path_is_checked_where_the_format_is_read(tmp_path):
  cfg = data_config.default_config()
  cfg.format, cfg.path = 'auto', str(tmp_path / 'missing')
  with pytest.raises(DataError, match='missing.*does not exist'):
    pipeline.check_config(cfg)
  # Item graphs from baskets (or the toy graph) never read data.format.
  cfg.item_graph.source = 'baskets'
  pipeline.check_config(cfg)
