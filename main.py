"""Start the FreeAgentics server: ``python main.py`` (the runbook also profiles it with cProfile).

Equivalent to ``freeagentics serve``; settings come from the environment and ``.env``.
"""

import sys

from freeagentics.cli.main import app

if __name__ == "__main__":
    app(args=["serve", *sys.argv[1:]], prog_name="main.py")
