"""The bank file (being split into one module per concern; for now everything still lives in `dashboard`)."""

from .dashboard import Clock, Store, utc_now

__all__ = ["Clock", "Store", "utc_now"]
