"""The platform's entities: projects, queries, connections, jobs, scripts, predictive
models and notebooks, registered with the audit system for change tracking."""
