"""plmkit: a teaching kit for the Physics of Language Models series."""
__version__ = "0.1.0"
