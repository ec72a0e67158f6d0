"""Benchmarks of the bridge's functions: every figure is a ratio against a baseline measured in the same run.

`python -m bench` runs them all and writes docs/benchmarks.md; `python -m bench --smoke` is a quick run
that checks the benchmark code works (it writes nothing unless --output is given).
"""

import sys

# The parent imports the layer and the local stand-ins; a cold-start child (`python -S`) is left with
# exactly the import path its parent gave it, as Lambda gives the function.
if not sys.flags.no_site:
    import os.path

    _ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for _folder in (os.path.join(_ROOT, "layers", "shared"), os.path.join(_ROOT, "local")):
        if _folder not in sys.path:
            sys.path.append(_folder)
