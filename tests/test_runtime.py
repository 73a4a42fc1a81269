"""The launch tools re-execute themselves with glibc malloc on huge pages."""

import os
import subprocess
import sys

import pytest

from jaxrec import runtime

CODE = ('from jaxrec import runtime; runtime.use_huge_pages(); import os; '
        'print(os.environ.get("GLIBC_TUNABLES", ""))')


@pytest.mark.skipif(not runtime._glibc_supports_hugetlb(),  # pylint: disable=protected-access
                    reason='needs glibc >= 2.35')
def test_reexec_sets_the_tunable_once():
  env = {k: v for k, v in os.environ.items()
         if k not in ('GLIBC_TUNABLES', 'JAXREC_NO_REEXEC')}
  out = subprocess.run([sys.executable, '-c', CODE], env=env, check=True,
                       capture_output=True, text=True).stdout
  assert out.strip() == runtime.HUGE_PAGES
  env['JAXREC_NO_REEXEC'] = '1'
  out = subprocess.run([sys.executable, '-c', CODE], env=env, check=True,
                       capture_output=True, text=True).stdout
  assert out.strip() == ''
