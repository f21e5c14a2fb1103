"""The ways in: HTTP API, CLI, and the container that wires them to the service layer."""
