"""Simulated peripherals that speak the device side of the real wire protocols."""
