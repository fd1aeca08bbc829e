"""Helpers of ``bench/peer.py`` (the side-by-side run against ThingsBoard IoT Gateway).

Named ``peerkit`` rather than ``peer`` so that the package does not shadow ``bench/peer.py``
(``python -m bench.peer`` would otherwise import the package).
"""
