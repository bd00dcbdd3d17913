"""sparsemod: ``python main.py [--config config.ini]`` runs the search the config describes."""

import sys

if __name__ == "__main__":  # the import stays here: trial worker processes re-import this file
    from sparsemod.cli import main

    sys.exit(main())
