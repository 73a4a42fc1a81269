"""Models by name. Each module exports the same names:

  TASK: the task kind it belongs to (see jaxrec.tasks)
  FEEDBACK: user-item models only: 'implicit' (trains on likes) or 'signed'
      (trains on likes and dislikes; needs config.data.feedback='signed')
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
from jaxrec.models import pane_gnn
from jaxrec.models import siren

MODELS: dict[str, ModuleType] = {
    'lightgcn': lightgcn,
    'gcn_link': gcn_link,
    'grcn': grcn,
    'pane_gnn': pane_gnn,
    'siren': siren,
}


def get(name: str) -> ModuleType:
  """The model module called `name`, or a clear error listing the choices."""
  if name not in MODELS:
    raise ConfigError(f'config.model.name={name!r} is not one of '
                     f'{sorted(MODELS)}.')
  return MODELS[name]
