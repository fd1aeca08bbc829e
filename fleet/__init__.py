"""kiosk-fleet: the reference fleet service (ingest, presence, incidents, the monthly report).

Built only on the published contract (``contract``); it never imports ``agent``.
"""

__version__ = "0.1.0"
