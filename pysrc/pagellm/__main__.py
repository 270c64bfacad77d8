"""``python -m pagellm``: the terminal client (see ``pagellm.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
