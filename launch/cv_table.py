"""The cv-table tool, run from a checkout.

python launch/cv_table.py --help lists its flags. Installed, the same tool is
`jaxrec-cv-table`, or `python -m jaxrec cv-table`; its code is
jaxrec/cli/cv_table.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('cv-table')
