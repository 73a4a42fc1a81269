"""The sweep tool, run from a checkout.

python launch/sweep.py --help lists its flags. Installed, the same
tool is `jaxrec-sweep`, or `python -m jaxrec sweep`; its code
is jaxrec/cli/sweep.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('sweep')
