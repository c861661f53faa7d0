"""Sub-commands of ``backbone``, one module per group."""
