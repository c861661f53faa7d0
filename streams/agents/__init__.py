"""Stream agents: one module per agent."""
