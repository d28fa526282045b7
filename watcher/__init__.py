"""digitwatch: classify handwritten digits dropped into a folder."""

__version__ = "0.1.0"
