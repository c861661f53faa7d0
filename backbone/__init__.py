"""The command-line entry point: the only place that wires connectors and streams together."""
