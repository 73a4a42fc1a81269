"""Times one propagation layer, out = A @ x, forward and forward+backward.

Candidates (JAX): plain segment_sum on unsorted edges, segment_sum on sorted
receivers, jax.experimental.sparse BCOO and BCSR products (their own
autodiff), and jaxrec's two kernels with the reverse-edge custom VJP
('segment_sum' and 'csr', see jaxrec/kernels.py). When torch is importable:
torch's CSR and COO sparse products and index_add, timed in the same run.

Graphs: random bipartite user-item graphs with Zipf item popularity,
both directions, symmetric normalisation; sizes are counted in directed edges.

  python benchmarks/propagation.py                  # 0.1M, 1.6M, 10M edges
  python benchmarks/propagation.py --sizes=0.1M --reps=3

Writes JSON (default benchmarks/results/propagation.json): the machine, one
record per (graph, implementation) with median milliseconds, and the
fastest JAX implementation per size with its ratio to torch's CSR product.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import json
import os
import platform
import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse

from jaxrec import graphs
from jaxrec import kernels
from jaxrec import ops

if __name__ == '__main__':
  # Flags only when run as a script: benchmarks/gpu_check.py imports the
  # functions below next to other benchmarks' (which define --out too).
  _SIZES = flags.DEFINE_list('sizes', ['0.1M', '1.6M', '10M'],
                             'Directed edge counts (K/M suffixes).')
  _WIDTH = flags.DEFINE_integer('width', 64, 'Embedding width d.')
  _REPS = flags.DEFINE_integer('reps', 5, 'Timed repetitions (median kept).')
  _OUT = flags.DEFINE_string('out', 'benchmarks/results/propagation.json',
                             'Where to write the JSON results.')
  _TORCH = flags.DEFINE_bool('torch', True,
                             'Also time torch when importable.')


def parse_size(text: str) -> int:
  """'1.6M' -> 1600000."""
  scale = {'K': 1e3, 'M': 1e6}.get(text[-1].upper(), 1)
  return int(float(text.rstrip('KMkm')) * scale)


def random_graph(num_edges: int, seed: int = 0):
  """A bipartite graph with about num_edges directed edges (numpy arrays)."""
  rng = np.random.default_rng(seed)
  interactions = num_edges // 2
  num_users = max(interactions // 16, 100)
  num_items = max(interactions // 27, 100)
  pop = 1.0 / (1.0 + np.arange(num_items)) ** 0.8
  users = rng.integers(0, num_users, interactions)
  items = rng.choice(num_items, interactions, p=pop / pop.sum())
  pairs = np.unique(users.astype(np.int64) * num_items + items)
  return graphs.bipartite(pairs // num_items, pairs % num_items, num_users,
                          num_items)


def time_ms(fn, *args, reps: int) -> float:
  """Median wall time of fn(*args) in ms, after one warm-up (compile) call."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append((time.perf_counter() - t) * 1e3)
  return statistics.median(times)


def jax_candidates(n: int):
  """name -> f(graph_arrays, w, x) computing A @ x (graph arrays passed as jit
  arguments, never baked into the program as constants)."""

  def unsorted(a, w, x):
    return jax.ops.segment_sum(w[a['shuffle']][:, None] * x[a['us']], a['ur'],
                               n)

  def sorted_autodiff(a, w, x):
    adj = a['adj']
    return jax.ops.segment_sum(w[:, None] * x[adj.senders], adj.receivers, n,
                               indices_are_sorted=True)

  def bcoo(a, w, x):
    adj = a['adj']
    idx = jnp.stack([adj.receivers, adj.senders], axis=1)
    return sparse.BCOO((w, idx), shape=(n, n), indices_sorted=True,
                       unique_indices=True) @ x

  def bcsr(a, w, x):
    adj = a['adj']
    return sparse.BCSR((w, adj.senders, adj.indptr), shape=(n, n),
                       indices_sorted=True, unique_indices=True) @ x

  return {
      'jax segment_sum (unsorted, autodiff)': unsorted,
      'jax segment_sum (sorted, autodiff)': sorted_autodiff,
      'jax BCOO (autodiff)': bcoo,
      'jax BCSR (autodiff)': bcsr,
      'jaxrec segment_sum (custom vjp)':
          lambda a, w, x: ops.propagate(a['adj'], w, x, 'segment_sum'),
      'jaxrec csr (custom vjp)':
          lambda a, w, x: ops.propagate(a['adj'], w, x, 'csr'),
      'jaxrec csr (custom vjp, symmetric)':
          lambda a, w, x: ops.propagate(a['adj'], w, x, 'csr', symmetric=True),
  }


def time_jax(g, width: int, reps: int,
             names: list[str] | None = None) -> dict[str, dict[str, float]]:
  """Forward, and forward+backward (loss value and its grad wrt x) times.

  names: the jax_candidates to time (None: all).
  """
  n = g.nodes['in_edges'].shape[0]
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(n, width)), jnp.float32)
  probe = jnp.asarray(rng.normal(size=(n, width)), jnp.float32)
  w = jnp.asarray(g.edges['weight'])
  shuffle = rng.permutation(len(g.senders))
  arrays = {'adj': jax.jit(ops.adjacency)(g), 'shuffle': jnp.asarray(shuffle),
            'us': jnp.asarray(g.senders[shuffle]),
            'ur': jnp.asarray(g.receivers[shuffle])}
  out = {}
  for name, f in jax_candidates(n).items():
    if names is not None and name not in names:
      continue
    fwd = jax.jit(f)
    # value_and_grad: the loss value needs the forward product, so XLA
    # cannot drop it (the gradient of a linear map alone would not).
    fwd_bwd = jax.jit(jax.value_and_grad(
        lambda a, w, x, p, f=f: jnp.sum(f(a, w, x) * p), argnums=2))
    out[name] = {'fwd_ms': time_ms(fwd, arrays, w, x, reps=reps),
                 'fwd_bwd_ms': time_ms(fwd_bwd, arrays, w, x, probe,
                                       reps=reps)}
    print(f'  {name:40s} fwd {out[name]["fwd_ms"]:9.2f} ms   fwd+bwd '
          f'{out[name]["fwd_bwd_ms"]:9.2f} ms', flush=True)
  return out


def time_torch(g, width: int, reps: int) -> dict[str, dict[str, float]]:
  """The same product in torch: CSR, COO and index_add (default threads)."""
  import torch  # pylint: disable=g-import-not-at-top
  n = g.nodes['in_edges'].shape[0]
  rng = np.random.default_rng(0)
  x = torch.from_numpy(rng.normal(size=(n, width)).astype(np.float32))
  probe = torch.from_numpy(rng.normal(size=(n, width)).astype(np.float32))
  s = torch.from_numpy(g.senders.astype(np.int64))
  r = torch.from_numpy(g.receivers.astype(np.int64))
  w = torch.from_numpy(np.asarray(g.edges['weight']))
  indptr = torch.from_numpy(
      np.concatenate([[0], np.cumsum(g.nodes['in_edges'])]).astype(np.int64))
  csr = torch.sparse_csr_tensor(indptr, s, w, size=(n, n))
  coo = torch.sparse_coo_tensor(torch.stack([r, s]), w, size=(n, n)).coalesce()

  def index_add(x):
    return torch.zeros_like(x).index_add_(0, r, w[:, None] * x[s])

  candidates = {
      'torch CSR sparse.mm': lambda x: torch.sparse.mm(csr, x),
      'torch COO sparse.mm': lambda x: torch.sparse.mm(coo, x),
      'torch index_add': index_add,
  }

  def timed(fn):
    fn()
    times = []
    for _ in range(reps):
      t = time.perf_counter()
      fn()
      times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)

  out = {}
  for name, f in candidates.items():
    def fwd(f=f):
      with torch.no_grad():
        f(x)

    def fwd_bwd(f=f):
      xg = x.detach().requires_grad_()
      (f(xg) * probe).sum().backward()

    out[name] = {'fwd_ms': timed(fwd), 'fwd_bwd_ms': timed(fwd_bwd)}
    print(f'  {name:40s} fwd {out[name]["fwd_ms"]:9.2f} ms   fwd+bwd '
          f'{out[name]["fwd_bwd_ms"]:9.2f} ms', flush=True)
  return out


def machine() -> dict[str, object]:
  """What the numbers were measured on."""
  info = {'platform': platform.platform(), 'processor': platform.processor(),
          'cpu_count': os.cpu_count(), 'python': platform.python_version(),
          'jax': jax.__version__, 'backend': jax.default_backend(),
          'devices': [str(d) for d in jax.devices()],
          'glibc_tunables': os.environ.get('GLIBC_TUNABLES', '')}
  try:
    import torch  # pylint: disable=g-import-not-at-top
    info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
  except ImportError:
    pass
  return info


def main(argv):
  del argv
  use_torch = _TORCH.value
  if use_torch:
    try:
      import torch  # pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      print('torch is not importable: timing JAX only.')
      use_torch = False
  records, summary = [], {}
  for size in _SIZES.value:
    g = random_graph(parse_size(size))
    edges = int(g.n_edge[0])
    nodes = int(g.n_node[0])
    print(f'graph {size}: {edges} directed edges, {nodes} nodes, width '
          f'{_WIDTH.value}', flush=True)
    times = time_jax(g, _WIDTH.value, _REPS.value)
    if use_torch:
      times.update(time_torch(g, _WIDTH.value, _REPS.value))
    for impl, t in times.items():
      records.append({'size': size, 'edges': edges, 'nodes': nodes,
                      'width': _WIDTH.value, 'impl': impl, **t})
    jax_times = {k: v for k, v in times.items() if k.startswith('jax')}
    best = min(jax_times, key=lambda k: jax_times[k]['fwd_bwd_ms'])
    entry = {'fastest_jax_fwd_bwd': best, **jax_times[best]}
    if 'torch CSR sparse.mm' in times:
      torch_csr = times['torch CSR sparse.mm']['fwd_bwd_ms']
      entry['torch_csr_fwd_bwd_ms'] = torch_csr
      entry['ratio_torch_csr_over_fastest'] = torch_csr / entry['fwd_bwd_ms']
    summary[size] = entry
    print(f'  fastest JAX fwd+bwd: {best}', flush=True)
  result = {'machine': machine(), 'default_impl': kernels.default_impl(),
            'results': records, 'summary': summary}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(result, f, indent=2)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
