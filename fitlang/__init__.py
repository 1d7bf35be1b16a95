"""fitlang: a declarative placement-policy language and its compiler, fitc."""

__version__ = "0.1.0"
