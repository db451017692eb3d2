"""Ports from billing to the outside world. One interface, one real adapter, one local twin."""
