"""The REST face of the audit system: thin DRF views over the domain functions."""
