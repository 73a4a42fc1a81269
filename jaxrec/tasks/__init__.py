"""Task kinds by name; a model's spec names its kind (ModelSpec.task).

See jaxrec/tasks/base.py for what a TaskKind does.
"""

import ml_collections

from jaxrec import models
from jaxrec.errors import ConfigError
from jaxrec.tasks.base import Task, TaskKind
from jaxrec.tasks.item_item import ItemItem
from jaxrec.tasks.user_item import UserItem

KINDS: dict[str, TaskKind] = {
    'user_item': UserItem(),
    'item_item': ItemItem(),
}


def build(config: ml_collections.ConfigDict) -> Task:
  """The Task of a config: data loaded and checked, graph and model built."""
  spec = models.get(config.model.name)
  missing = sorted(set(spec.default_config()) - set(config.model))
  if missing:
    # config.model was made for another model (--config.model.name=...).
    raise ConfigError(
        f'config.model has no {", ".join(missing)}: it was made for another '
        f'model than {spec.name!r}. Choose the model in the config file '
        f"(config_lib.base({spec.name!r})), not with --config.model.name.")
  return KINDS[spec.task].build(config, spec)
