"""Models by name. Each module exports the same names:

  TASK: the task kind it belongs to (see jaxrec.tasks)
  create(config, data) -> flax Module
  loss_fn(model, params, graph, batch, rng, config) -> per-example loss [B]
  eval_outputs(model, params, graph) -> pytree used for ranking
  score(outputs, users [C]) -> scores [C, I]

so the training loop never names a model.
"""

from types import ModuleType

from jaxrec.errors import ConfigError
from jaxrec.models import gcn_link
from jaxrec.models import lightgcn

MODELS: dict[str, ModuleType] = {
    'lightgcn': lightgcn,
    'gcn_link': gcn_link,
}


def get(name: str) -> ModuleType:
  """The model module called `name`, or a clear error listing the choices."""
  if name not in MODELS:
    raise ConfigError(f'config.model.name={name!r} is not one of '
                     f'{sorted(MODELS)}.')
  return MODELS[name]
