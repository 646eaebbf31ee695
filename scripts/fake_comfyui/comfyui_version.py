# The fixture builder (agent/internal/project/projecttest) bumps this for the second tagged commit.
__version__ = "0.3.0"
