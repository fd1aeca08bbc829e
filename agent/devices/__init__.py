"""The devices at run time: one poller per device and the supervisor over them.

Bottom up: ``snapshot`` (what is known of a device: the snapshot, the poller's own faults),
``schedule`` (reopen backoff and poll grid, pure functions), ``publisher`` (snapshot replacement,
transition logs, listener calls), ``poller`` (the worker thread of one device), ``supervisor``
(the pollers together: membership, restarts, liveness, bounded stop).
"""
