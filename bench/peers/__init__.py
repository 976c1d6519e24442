"""The bench-only app of ``bench/tracking_peers.py``: five models with the same fields,
each tracked by another tool (or by none), loaded only by ``bench.peers_settings``."""
