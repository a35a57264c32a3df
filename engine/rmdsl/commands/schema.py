"""`rmdsl schema`: the names, functions and actions the language knows (text or JSON),
or a JSON Schema of ruleset files for editors (`--json-schema`), or of rmdsl.toml
(`--config`)."""

from __future__ import annotations

import argparse

HELP = "print the names, types, functions and actions the language knows"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or json"
    )
    group.add_argument(
        "--json-schema",
        action="store_true",
        help="print a JSON Schema for ruleset files (for editor support)",
    )
    group.add_argument(
        "--config",
        action="store_true",
        help="print the JSON Schema of the config file rmdsl.toml (`rmdsl run --config`)",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from rmdsl.docs_gen import json_schema, schema_data, schema_text

    if args.config:
        from rmdsl.config import json_schema as config_schema

        print(json.dumps(config_schema(), indent=2))
    elif args.json_schema:
        print(json.dumps(json_schema(), indent=2))
    elif args.format == "json":
        print(json.dumps(schema_data(), indent=2))
    else:
        print(schema_text(), end="")
    return 0
