"""Running a test's program in a fresh CPU-only Python (fake devices).

Tests that need several CPU devices (jax_num_cpu_devices) run their code in
a subprocess, so that the test session keeps one device and so that an
XLA:CPU collectives abort (exit 134, seen on 2-core machines) is retried
instead of taking the session down.
"""

import os
import subprocess
import sys


def run_python(code: str, xla_flags: str | None = None,
               timeout: int = 300) -> subprocess.CompletedProcess:
  """Runs `python -c code` on the CPU platform; returns the finished process.

  Args:
    code: the program (it sets its own device count).
    xla_flags: XLA_FLAGS for it, or None; dropped (and the run retried) by
      an XLA that does not know one of them. The caller's XLA_FLAGS never
      pass: they could set the device count another way.
    timeout: seconds per attempt.
  """
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['JAX_PLATFORMS'] = 'cpu'
  if xla_flags:
    env['XLA_FLAGS'] = xla_flags
  for _ in range(3):
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode == 134:
      continue
    if 'Unknown flag' in proc.stderr and 'XLA_FLAGS' in env:
      del env['XLA_FLAGS']  # An XLA without these options: run without.
      continue
    break
  return proc
