"""CLI subcommands that live in their own module: each has `register(sub)` and `run`."""
