"""The `imagesearch` command's parser and entry point; each command group has its own module here.

Heavy imports (MXNet, numpy) happen inside the command functions so `imagesearch --help` is fast.
Each command module registers its subcommands through a function taking the subparsers object.
`main` loads the settings once and hands the typed record to every command function `(args, settings)`.
"""

from __future__ import annotations

import argparse
import sys

from imagesearch import settings as settings_table
from imagesearch.cli.common import configure_decoding, print_json
from imagesearch.cli.daemon import add_daemon_commands
from imagesearch.cli.duplicates import add_duplicates_command
from imagesearch.cli.index import add_index_commands
from imagesearch.cli.ingest import add_ingest_command
from imagesearch.cli.query import add_query_command
from imagesearch.cli.reindex import add_reindex_command
from imagesearch.cli.sample import add_sample_data_command
from imagesearch.cli.weights import add_weights_commands
from imagesearch.errors import SearchError


def build_parser() -> argparse.ArgumentParser:
    """The full `imagesearch` parser, every subcommand registered."""
    parser = argparse.ArgumentParser(prog="imagesearch", description="Visual image search: engine and agent.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sample_data_command(sub)
    add_index_commands(sub)
    add_query_command(sub)
    add_weights_commands(sub)  # operator tooling: obtain and verify pretrained weights
    add_daemon_commands(sub)  # serve, health, reload: heavy dependencies load only when one runs
    add_ingest_command(sub)
    add_reindex_command(sub)  # operator tooling: re-index the gallery on Lambda
    add_duplicates_command(sub)  # near-duplicate groups of an index (issue 23)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; a SearchError prints its error JSON and exits non-zero."""
    args = build_parser().parse_args(argv)
    try:
        cfg = settings_table.load()
        configure_decoding(cfg)
        return int(args.func(args, cfg) or 0)
    except SearchError as e:
        print_json(e.to_json())
        return 1


if __name__ == "__main__":
    sys.exit(main())
