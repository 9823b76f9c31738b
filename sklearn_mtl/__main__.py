"""``python -m sklearn_mtl``: the quickstart (set SKLEARN_MTL_SMOKE=1 for a seconds-long run)."""

import os

from ._quickstart import main

main(smoke=os.environ.get("SKLEARN_MTL_SMOKE") == "1")
