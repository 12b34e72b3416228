"""`wallet keys create|list|revoke|dev`: API keys, managed as the owner (service/keys.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from service import keys


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
            print(f"API key {args.name} {state} at {_when(revoked_at)}")
        elif args.keys_command == "dev":
            key, made = keys.ensure_development_key(admin_url, args.file)
            print(f"{'created' if made else 'kept'} the development key in {args.file}")
            print(key)
    except keys.KeyRejectedError as exc:
        print(f"wallet keys {args.keys_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def _print_keys(rows: list[keys.KeyInfo]) -> None:
    """One line per key; the last column is left unpadded."""
    table = [("name", "prefix", "scopes", "created", "revoked")]
    table += [
        (
            row.name,
            row.key_prefix,
            ",".join(row.scopes),
            _when(row.created_at),
            _when(row.revoked_at),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(4)]
    for line in table:
        padded = [line[column].ljust(widths[column]) for column in range(4)]
        print("  ".join([*padded, line[4]]))
