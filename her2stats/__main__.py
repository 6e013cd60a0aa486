"""``python -m her2stats ...`` runs the ``her2stats`` command line."""
from .cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
