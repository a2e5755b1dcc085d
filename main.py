"""Start the FreeAgentics server: ``python main.py`` (the runbook also profiles it with cProfile).

Equivalent to ``freeagentics serve``; settings come from the environment and ``.env``.
"""

from freeagentics.cli.main import serve

if __name__ == "__main__":
    serve(env_file=None, host=None, port=None)
