"""Task kinds by name; a model module names its kind in `TASK`.

See jaxrec/tasks/base.py for what each kind module exports.
"""

from types import ModuleType

import ml_collections

from jaxrec import models
from jaxrec.tasks import item_item
from jaxrec.tasks import user_item
from jaxrec.tasks.base import Task

KINDS: dict[str, ModuleType] = {
    'user_item': user_item,
    'item_item': item_item,
}


def build(config: ml_collections.ConfigDict) -> Task:
  """The Task of a config: data loaded and checked, graph and model built."""
  model_lib = models.get(config.model.name)
  return KINDS[model_lib.TASK].build(config, model_lib)
