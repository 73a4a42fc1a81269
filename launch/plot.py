"""The plot tool, run from a checkout.

python launch/plot.py --help lists its flags. Installed, the same tool is
`jaxrec-plot`, or `python -m jaxrec plot`; its code is jaxrec/cli/plot.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('plot')
