"""`wallet keys create|list|revoke|dev`: API keys, managed as the owner (service/keys.py)."""

from __future__ import annotations

import argparse
import sys

from service import keys
from service.cli.text import print_table, when


def keys_command(admin_url: str, args: argparse.Namespace) -> int:
    """A refused operation is one line on stderr, exit 1."""
    try:
        if args.keys_command == "create":
            scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
            new = keys.create_key(admin_url, args.name, scopes)
            print(f"created API key {new.name} (prefix {new.key_prefix})")
            print(f"scopes: {', '.join(new.scopes)}")
            print("store it now: it cannot be shown again")
            print(new.key)  # alone on the last line, for scripts
        elif args.keys_command == "list":
            _print_keys(keys.list_keys(admin_url))
        elif args.keys_command == "revoke":
            revoked_at, earlier = keys.revoke_key(admin_url, args.name)
            state = "was already revoked" if earlier else "revoked"
            print(f"API key {args.name} {state} at {when(revoked_at)}")
        elif args.keys_command == "dev":
            key, made = keys.ensure_development_key(admin_url, args.file)
            print(f"{'created' if made else 'kept'} the development key in {args.file}")
            print(key)
    except keys.KeyRejectedError as exc:
        print(f"wallet keys {args.keys_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_keys(rows: list[keys.KeyInfo]) -> None:
    """One line per key."""
    header = ("name", "prefix", "scopes", "created", "revoked")
    print_table(
        header,
        [
            (
                row.name,
                row.key_prefix,
                ",".join(row.scopes),
                when(row.created_at),
                when(row.revoked_at),
            )
            for row in rows
        ],
    )
