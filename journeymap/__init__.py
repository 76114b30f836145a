"""journeymap: a customer journey map that measures itself."""
__version__ = "0.1.0"
