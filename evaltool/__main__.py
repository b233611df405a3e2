"""``python -m evaltool`` is the ``evaltool`` command."""
from evaltool.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised by tests/test_cli.py through a subprocess
    main()
