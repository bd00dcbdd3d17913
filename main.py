"""sparsemod: ``python main.py [--config config.ini]`` runs the search the config describes."""

import sys

from sparsemod.cli import main

if __name__ == "__main__":
    sys.exit(main())
