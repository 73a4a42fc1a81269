"""Models by name. Each module exports the same names:

  TASK: the task kind it belongs to (see jaxrec.tasks)
  create(config, data) -> flax Module
  inputs(config, data, graph) -> what the module is applied to (the graph,
      or the graph and item features)
  loss_fn(model, params, inputs, batch, rng, config) -> per-example loss [B]
  eval_outputs(model, params, inputs) -> pytree used for ranking
  score(outputs, users [C]) -> scores [C, I]
  after_training(model, params, inputs, workdir): extra files for the best
      checkpoint (e.g. GRCN's refined edge weights)

so the training loop never names a model.
"""

from types import ModuleType

from jaxrec.errors import ConfigError
from jaxrec.models import gcn_link
from jaxrec.models import grcn
from jaxrec.models import lightgcn

MODELS: dict[str, ModuleType] = {
    'lightgcn': lightgcn,
    'gcn_link': gcn_link,
    'grcn': grcn,
}


def get(name: str) -> ModuleType:
  """The model module called `name`, or a clear error listing the choices."""
  if name not in MODELS:
    raise ConfigError(f'config.model.name={name!r} is not one of '
                     f'{sorted(MODELS)}.')
  return MODELS[name]
