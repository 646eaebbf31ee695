# This file is rewritten by scripts/make-fixtures.sh for the second tagged commit.
__version__ = "0.3.0"
