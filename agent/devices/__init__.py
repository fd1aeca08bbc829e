"""The devices at run time: one poller per device and the supervisor over them."""
