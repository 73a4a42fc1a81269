"""The recommend tool, run from a checkout.

python launch/recommend.py --help lists its flags. Installed, the same tool is
`jaxrec-recommend`, or `python -m jaxrec recommend`; its code is
jaxrec/cli/recommend.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('recommend')
