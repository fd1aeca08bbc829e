"""``kiosk-fleet simulate``: many lightweight simulated terminals in one asyncio process."""
