"""The uplink: journal records to MQTT, presence and health, fleet commands back."""
