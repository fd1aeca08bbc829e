"""The device-facing checks every driver passes: against the simulators in every run, against a real
unit with ``pytest tests/hardware -m hardware --device-url URL --device-class CLASS`` (docs/hardware.md,
"Running the test suite against a real device")."""
