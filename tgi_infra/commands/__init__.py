"""CLI subcommands that live in their own module (registered in tgi_infra.cli)."""
