"""Subcommands of `snaptrail` that live in modules of their own (the parser is built in snaptrail.cli)."""
