"""``python -m fastmlp.cli``: the same as ``python -m fastmlp``."""
import sys

from fastmlp.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m fastmlp.cli"))
