"""The run-level config schema; each owner contributes its own part.

`base(model)` holds the fields of a run (optimiser, epochs, evaluation);
`c.model` comes from the model's spec (ModelSpec.default_config) and
`c.data` from jaxrec/data/config.py. Files in configs/ start from `base()`
and lock the result, so a typo on the command line
(--config.learnin_rate=...) fails at once instead of being silently ignored;
a typo inside a config file (which is unlocked while it runs) is found by
check_known, which the launchers run before anything else.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any

import ml_collections

from jaxrec import models
from jaxrec.data import config as data_config
from jaxrec.errors import ConfigError


def base(model: str) -> ml_collections.ConfigDict:
  """The defaults of a run of `model` (a name in jaxrec.models.MODELS)."""
  c = ml_collections.ConfigDict()
  # Seeds the initial parameters, the batches and their negatives, and
  # dropout (the data's split has its own data.split_seed).
  c.seed = 0
  c.data = data_config.default_config()
  c.model = models.get(model).default_config()
  c.model.name = model
  c.learning_rate = 1e-3  # Adam's step size.
  # Global batch, split across devices (must be divisible by their number);
  # 0 = the whole epoch in one batch.
  c.batch_size = 2048
  c.num_epochs = 200  # At most; early stopping (patience) may end sooner.
  # L2 weight of the model's regulariser (see its loss).
  c.l2_weight = 1e-4
  # Sampled negatives per training interaction (signed models: K, drawn with
  # replacement from the items the user has not rated in train), and how:
  # 'uniform' or 'popularity' (train count ** negative_power).
  c.num_negatives = 1
  c.negative_sampling = 'uniform'
  c.negative_power = 0.75
  # Which training examples an epoch holds (user-item tasks), as many as
  # there are train rows: 'every_row' (each once, shuffled) or
  # 'user_uniform' (LightGCN-PyTorch's sampler: a uniformly drawn user,
  # then one of its rows; jaxrec/sampling.py BPRBatches).
  c.train_examples = 'every_row'
  c.num_devices = 0  # 0 = all local devices.
  # Split every graph's edges across the train step's devices (blocks of
  # receivers, jaxrec/graph_shards.py): each device propagates about E / D
  # edges and sums node values with the others, instead of every device
  # running the whole graph. The same update, up to float rounding;
  # evaluation's forward still runs the whole graph on one device.
  c.shard_graph = False
  # Split the node embedding tables by rows over the train step's devices
  # (jaxrec/row_shards.py): each device keeps N / D rows of the parameters
  # and of Adam's moments, computes its rows of every layer, and receives
  # from the others only the rows its edges read. For catalogues whose
  # tables do not fit on one device; models whose spec names row_tables
  # (LightGCN), one process. Evaluation and checkpoints see the whole table.
  c.shard_tables = False
  # Evaluate on validation and save a checkpoint every this many epochs
  # (and after the last).
  c.eval_every_epochs = 5
  # Log (and write to metrics.jsonl) the training loss every this many epochs.
  c.log_every_epochs = 1
  # Cut-offs K of the ranking metrics (precision, recall, nDCG, hit@K).
  c.eval_ks = (10, 20)
  # Users (or anchor items) ranked per step of evaluation: memory against
  # speed; the metrics are the same.
  c.eval_chunk_size = 256
  # Model selection and early stopping on this validation metric.
  c.selection_metric = 'recall@20'
  # Also evaluate test at every evaluation, logged next to validation
  # (test/* in metrics.jsonl) for the papers' protocol (best test epoch,
  # launch/cv_table.py); never used for selection or early stopping.
  c.log_test_every_eval = True
  c.patience = 10  # Evaluations without improvement before stopping; 0 = never.
  return c


def parse_arg(arg: str | None, **spec: Any) -> ml_collections.ConfigDict:
  """A config file's variant string, typed by the defaults in `spec`.

  'smoke' -> smoke=True; 'variant=B,fold=2' -> variant='B', fold=2 (cast
  to the type of the default). Unknown names are an error that lists the
  known ones.

  Args:
    arg: what follows ':' in --config=FILE.py:ARG, or None.
    **spec: every accepted name with its default (its type types values).

  Returns:
    A locked ConfigDict with every name of `spec`.
  """
  result = ml_collections.ConfigDict(spec)
  for word in filter(None, (arg or '').split(',')):
    key, sep, value = word.partition('=')
    if key not in spec:
      raise ConfigError(f'Unknown config variant {key!r} in {arg!r}; this '
                        f'config takes {", ".join(sorted(spec))}.')
    default = spec[key]
    if not sep:
      result[key] = True
    elif isinstance(default, bool):
      result[key] = ast.literal_eval(value.capitalize())
    else:
      result[key] = type(default)(value)
  result.lock()
  return result


def from_saved(saved: dict) -> ml_collections.ConfigDict:
  """A run's saved config (config.json) on top of today's defaults.

  Fields added since the run was saved keep their defaults, so old runs
  still evaluate; fields jaxrec no longer has (or that belong to other
  models: runs saved before configs were per model held them all) are
  dropped. JSON lists become tuples where the default is a tuple.
  """
  name = saved.get('model', {}).get('name')
  if not name:
    raise ConfigError('The saved config has no model.name: it was not '
                      'written by launch/train.py.')
  config = base(name)
  _merge(config, saved)
  return config


def unknown_fields(config: ml_collections.ConfigDict) -> list[str]:
  """Dotted fields of `config` that base(config.model.name) does not have.

  A config file builds on base() and locks its result only at the end, so a
  misspelt field in the file (c.learnin_rate = ...) adds a field that
  nothing reads; launchers refuse configs with such fields (check_known).
  """
  return _extra(config, base(config.model.name), 'config.')


def _extra(config: ml_collections.ConfigDict,
           schema: ml_collections.ConfigDict, prefix: str) -> list[str]:
  if not schema.keys():  # Free-form, e.g. data.synthetic.feature_dims.
    return []
  extra = []
  for key, value in config.items():
    if key not in schema:
      extra.append(prefix + key)
    elif isinstance(value, ml_collections.ConfigDict) and isinstance(
        schema[key], ml_collections.ConfigDict):
      extra.extend(_extra(value, schema[key], f'{prefix}{key}.'))
  return extra


def get_field(config: ml_collections.ConfigDict, field: str,
              flag: str) -> Any:
  """The value of a dotted field ('model.num_layers'), or a ConfigError.

  Args:
    config: the config.
    field: the dotted path below config.
    flag: how the user names a field on the command line, for the error:
      '--config.' or '--sweep='.

  Raises:
    ConfigError: naming the missing part, with the closest field's name.
  """
  node, parts = config, field.split('.')
  for depth, part in enumerate(parts):
    if isinstance(node, ml_collections.ConfigDict) and part in node:
      node = node[part]
      continue
    parent = '.'.join(['config', *parts[:depth]])
    known = (list(node.keys())
             if isinstance(node, ml_collections.ConfigDict) else [])
    close = difflib.get_close_matches(part, known, n=1)
    hint = (f'did you mean {flag}{".".join([*parts[:depth], close[0]])}?'
            if close else '--config=FILE --help lists the fields.')
    raise ConfigError(f'{flag}{field}: {parent} has no field {part!r}; '
                      f'{hint}')
  return node


def set_field(config: ml_collections.ConfigDict, field: str,
              value: Any) -> None:
  """Sets a dotted field ('model.num_layers') that exists, in place."""
  *parents, leaf = field.split('.')
  for part in parents:
    config = config[part]
  config[leaf] = value


def check_known(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first field base() does not know."""
  extra = unknown_fields(config)
  if extra:
    parent, _, name = extra[0].rpartition('.')
    schema = base(config.model.name)
    for part in parent.split('.')[1:]:
      schema = schema[part]
    close = difflib.get_close_matches(name, list(schema.keys()), n=1)
    hint = f'did you mean {parent}.{close[0]}?' if close else (
        'remove it, or check its spelling in --help.')
    raise ConfigError(f'{extra[0]} is not a field jaxrec reads (a typo in '
                      f'the config file?); {hint}')


def _merge(config: ml_collections.ConfigDict, saved: dict) -> None:
  free_form = not config.keys()  # e.g. data.synthetic.feature_dims
  for key, value in saved.items():
    if key not in config and not free_form:
      continue
    current = config.get(key)
    if isinstance(current, ml_collections.ConfigDict) and isinstance(value,
                                                                     dict):
      _merge(current, value)
    elif isinstance(current, tuple) and isinstance(value, list):
      config[key] = tuple(value)
    else:
      config[key] = value
