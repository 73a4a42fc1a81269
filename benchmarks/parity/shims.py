"""Stand-ins for APIs the authors' code calls that changed since it was written.

Each function installs one shim; a harness calls the ones its reference
needs before (or just after) importing the authors' modules. Nothing here
edits the authors' files. Keep additions to new functions: several harnesses
share this file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery


def pyg_scatter_underscore() -> None:
  """torch_geometric.utils.scatter_(name, src, index, dim_size=None).

  PyG <= 1.4 had scatter_('add' | 'mean' | 'max', src, index, dim=0,
  dim_size=None); PyG 2 calls it scatter(src, index, dim, dim_size=,
  reduce=). GRCN's Model_routing.py imports the old name at module level
  (it uses it for Tiktok's bag of words).
  """
  utils = importlib.import_module('torch_geometric.utils')
  if hasattr(utils, 'scatter_'):
    return

  def scatter_(name, src, index, dim=0, dim_size=None):
    reduce = {'add': 'sum'}.get(name, name)
    return utils.scatter(src, index, dim=dim, dim_size=dim_size,
                         reduce=reduce)

  utils.scatter_ = scatter_


def pyg_softmax_num_nodes_third(module) -> None:
  """Makes `module.softmax(src, index, num_nodes)` mean what PyG 1.x meant.

  PyG 1.x: softmax(src, index, num_nodes=None). PyG 2 inserted `ptr` as the
  third parameter, so GRCN's GATConv.py call softmax(alpha, edge_index_i,
  size_i) would pass the node count as CSR pointers. The shim replaces the
  name in the importing module only.
  """
  utils = importlib.import_module('torch_geometric.utils')

  def softmax(src, index, num_nodes=None):
    return utils.softmax(src, index, num_nodes=num_nodes)

  module.softmax = softmax


@contextlib.contextmanager
def cuda_calls_stay_on_cpu():
  """Inside the block, Tensor.cuda() and Module.cuda() return on CPU.

  Code written for one GPU calls .cuda() unconditionally (GRCN's Net, and
  MMRec's GRCN loss builds torch.zeros(1).cuda()). Parity runs on CPU, so
  the calls are no-ops there when no GPU is present.
  """
  torch = importlib.import_module('torch')
  if torch.cuda.is_available():
    yield
    return
  tensor_cuda, module_cuda = torch.Tensor.cuda, torch.nn.Module.cuda
  torch.Tensor.cuda = lambda self, *a, **k: self
  torch.nn.Module.cuda = lambda self, *a, **k: self
  try:
    yield
  finally:
    torch.Tensor.cuda, torch.nn.Module.cuda = tensor_cuda, module_cuda


def numpy_legacy_aliases() -> None:
  """np.float / np.int / np.bool, removed in numpy 1.24.

  MMRec's utils/metrics.py (ndcg_, map_) builds arrays with dtype=np.float.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  for name, value in (('float', float), ('int', int), ('bool', bool)):
    if name not in np.__dict__:
      setattr(np, name, value)


def stub_if_missing(module: str, **attributes) -> None:
  """Installs `module` (e.g. 'sklearn.metrics') as a stand-in if not importable.

  For imports at the top of the authors' files whose names the harnesses
  never call: LightGCN's utils.py and Procedure.py import sklearn's
  roc_auc_score for an AUC nobody calls; MMRec's trainer imports
  matplotlib for loss plots.

  Args:
    module: dotted module name; missing parents are stubbed too.
    **attributes: names the import statement asks for; a None value becomes
      a function that raises NotImplementedError when called.
  """
  import sys  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  try:
    importlib.import_module(module)
    return
  except ImportError:
    pass
  parts = module.split('.')
  for i in range(1, len(parts) + 1):
    name = '.'.join(parts[:i])
    if name not in sys.modules:
      stub = types.ModuleType(name, f'parity-harness stand-in for {name}')
      stub.__path__ = []  # A package, so submodules can hang below it.
      # A spec, since importlib.util.find_spec (torch._dynamo calls it on
      # every imported module) refuses a module whose __spec__ is None.
      stub.__spec__ = importlib.machinery.ModuleSpec(name, None,
                                                     is_package=True)
      sys.modules[name] = stub
      if i > 1:
        setattr(sys.modules['.'.join(parts[:i - 1])], parts[i - 1], stub)

  def unused(what):
    def fail(*args, **kwargs):
      del args, kwargs
      raise NotImplementedError(f'{what} is a parity-harness stand-in (the '
                                f'package is not installed).')
    return fail

  for key, value in attributes.items():
    setattr(sys.modules[module], key,
            unused(f'{module}.{key}') if value is None else value)


@contextlib.contextmanager
def no_makedirs_under(root: str):
  """Within the block, os.makedirs does nothing for paths inside `root`.

  LightGCN's world.py creates code/checkpoints inside the checkout when it
  is imported; the harness leaves the checkout untouched.
  """
  import os  # pylint: disable=g-import-not-at-top
  root = os.path.abspath(root)
  real = os.makedirs

  def makedirs(name, *args, **kwargs):
    path = os.path.abspath(os.fspath(name))
    if os.path.commonpath([path, root]) == root:
      return None
    return real(name, *args, **kwargs)

  os.makedirs = makedirs
  try:
    yield
  finally:
    os.makedirs = real


def tqdm_if_missing() -> None:
  """A do-nothing `tqdm` module when the real one is not installed.

  The authors' modules import tqdm for progress bars only (GRCN's
  Model_routing.py, MMRec's models); parity never draws one.
  """
  import sys  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  try:
    importlib.import_module('tqdm')
    return
  except ImportError:
    pass

  class _Bar:
    def __init__(self, iterable=None, *args, **kwargs):
      self.iterable = iterable

    def __iter__(self):
      return iter(self.iterable or ())

    def update(self, *args):
      pass

    def close(self):
      pass

  module = types.ModuleType('tqdm')
  module.tqdm = _Bar
  # torch._dynamo's find_spec refuses a module whose __spec__ is None.
  module.__spec__ = importlib.machinery.ModuleSpec('tqdm', None)
  sys.modules['tqdm'] = module
