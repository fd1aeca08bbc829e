"""Parts of the fleet benchmark (bench/fleet.py)."""
