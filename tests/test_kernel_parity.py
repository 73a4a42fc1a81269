"""Every model computes the same thing under both propagation kernels.

On CPU the default kernel is 'csr' (kernels.default_impl), so every other
test exercises it; accelerators default to 'segment_sum'. Here each
registered model's forward (eval outputs and scores), loss and gradient of
every parameter are computed under both kernels from the same task,
parameters and batch, and must agree to fp32 round-off. The kernels
themselves (and ops.gather / edge_dot / propagate / lightgcn's custom VJPs)
are checked against dense references for both kernels in
tests/test_graphs_ops.py.

Compiling the programs is most of the time: each model's programs (one per
kernel) compile in parallel, unoptimised on CPU (FAST_COMPILE); 15-20 s of
CPU for the file.
"""

import concurrent.futures
import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import gcn_copurchase_toy
from configs import grcn_movielens
from configs import lightgcn_synthetic
from configs import pane_gnn_synthetic
from configs import siren_synthetic
from jaxrec import kernels
from jaxrec import models
from jaxrec import tasks
from jaxrec.models import spec as spec_lib

# One smoke config per registered model. grcn_movielens uses weight_mode
# 'confid', the only path through ops.gather.
CONFIGS = {
    'lightgcn': lightgcn_synthetic,
    'grcn': grcn_movielens,
    'pane_gnn': pane_gnn_synthetic,
    'siren': siren_synthetic,
    'gcn_link': gcn_copurchase_toy,
}
# Every kernel, each against the CPU default.
IMPLS = tuple(sorted(kernels.KERNELS))
REFERENCE = 'csr'
# fp32: the two kernels sum the same products in different orders.
RTOL = 1e-5
# XLA:CPU options of both kernels' programs: unoptimised code generation,
# several times faster to compile (measured: GRCN's program 11 s -> 4 s at
# level 0; PANE-GNN's 2.8 s -> 1.2 s of CPU without the fusion emitters).
# Both kernels compile alike, so the comparison is unaffected. Other
# backends compile as usual.
FAST_COMPILE = {'xla_backend_optimization_level': 0,
                'xla_llvm_disable_expensive_passes': True,
                'xla_cpu_use_fusion_emitters': False}


def test_every_model_and_kernel_is_covered():
  assert set(CONFIGS) == set(models.MODELS)
  assert {REFERENCE, 'segment_sum'} <= set(IMPLS)


@contextlib.contextmanager
def _kernels_called():
  """Yields the list of kernel names called while the block runs."""
  called, original = [], dict(kernels.KERNELS)

  def counting(name):
    def kernel(*args):
      called.append(name)
      return original[name](*args)
    return kernel

  kernels.KERNELS.update({name: counting(name) for name in original})
  try:
    yield called
  finally:
    kernels.KERNELS.update(original)


def _program(task, impl: str):
  """(params, inputs, batch) -> (loss, grads, eval outputs, scores) under
  `impl`, with the model built through config.model.propagation."""
  config = task.config.copy_and_resolve_references()
  config.model.propagation = impl
  model = task.spec.create(config, task.data)  # The config path users take.
  assert model.propagation == impl
  hp = task.spec.loss_params(config)
  ctx = spec_lib.single_device(jax.random.key(7))  # Same dropout masks.

  def mean_loss(params, inputs, batch):
    mask = batch['mask'].astype(jnp.float32)
    per_example = task.spec.loss(model, params, inputs, batch, hp, ctx)
    return jnp.sum(per_example * mask) / jnp.sum(mask)

  def program(params, inputs, batch):
    loss, grads = jax.value_and_grad(mean_loss)(params, inputs, batch)
    outputs = task.spec.eval_outputs(model, params, inputs)
    rows = jnp.arange(min(16, jax.tree.leaves(outputs)[0].shape[0]))
    return loss, grads, outputs, task.spec.score(outputs, rows)

  return program


def _random_params(task):
  """Parameters of the model's shapes, every entry N(0, 0.1^2).

  Any parameters must give equal results; random ones (no zero biases, no
  all-equal scales) leave no term out of the comparison, and skip
  compiling the model's init.
  """
  shapes = jax.eval_shape(task.model.init, jax.random.key(0), task.inputs)
  rng = np.random.default_rng(0)
  return jax.tree.map(
      lambda s: jnp.asarray(0.1 * rng.standard_normal(s.shape), s.dtype),
      shapes['params'])


def _compile(lowered):
  """lowered.compile(), with FAST_COMPILE on CPU where this XLA has them."""
  if jax.default_backend() != 'cpu':
    return lowered.compile()
  try:
    return lowered.compile(FAST_COMPILE)
  except jax.errors.JaxRuntimeError as e:  # An XLA without one of them.
    if 'compile option' not in str(e):
      raise
    return lowered.compile()


def _run_all(task, params, batch):
  """{impl: (loss, grads, eval outputs, scores)}.

  Each kernel's program is traced (which is when the kernels are called),
  then all compile at once.
  """
  args = (params, task.inputs, batch)
  lowered = {}
  for impl in IMPLS:
    # Full fp32 matmuls: GPUs default to TF32, whose rounding of the layers
    # after a propagation would turn the kernels' round-off into 1e-3.
    with _kernels_called() as called, jax.default_matmul_precision('highest'):
      lowered[impl] = jax.jit(_program(task, impl)).lower(*args)
    # The kernel asked for is the one that ran, and only it.
    assert set(called) == {impl}, (impl, set(called))
  with concurrent.futures.ThreadPoolExecutor(len(IMPLS)) as pool:
    compiled = dict(zip(IMPLS, pool.map(lambda i: _compile(lowered[i]),
                                        IMPLS)))
  return {impl: jax.device_get(compiled[impl](*args)) for impl in IMPLS}


def _assert_close(got, want, what):
  """Leaf by leaf: |got - want| <= RTOL * (|want| + max |want| of the leaf)."""

  def check(path, a, b):
    a, b = np.asarray(a), np.asarray(b)
    # Relative to the leaf's scale too: an entry that is 0 up to
    # cancellation has no meaningful relative error of its own.
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale,
                               err_msg=f'{what} {jax.tree_util.keystr(path)}')

  jax.tree_util.tree_map_with_path(check, got, want)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_kernels_give_equal_loss_gradients_and_scores(name):
  task = tasks.build(CONFIGS[name].get_config('smoke'))
  params = _random_params(task)
  batch = task.kind.batches(task, 1).batch(0, 0)
  results = _run_all(task, params, batch)
  loss, grads, outputs, scores = results[REFERENCE]
  assert np.isfinite(loss) and loss != 0.0
  assert jax.tree.structure(grads) == jax.tree.structure(params)
  # Every parameter gets a gradient (else its comparison would be empty).
  assert all(np.any(g != 0) for g in jax.tree.leaves(grads))
  for impl in sorted(set(IMPLS) - {REFERENCE}):
    got = results[impl]
    np.testing.assert_allclose(got[0], loss, rtol=RTOL, err_msg=impl)
    _assert_close(got[1], grads, f'{impl} grad')
    _assert_close(got[2], outputs, f'{impl} eval outputs')
    _assert_close(got[3], scores, f'{impl} scores')
