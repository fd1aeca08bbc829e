"""The local API for the kiosk application: HTTP/1.1 + JSON on a unix socket."""
