"""Operator commands: accounts, API tokens, signing keys, signed URLs, orphan cleanup.

They open the same catalog the server uses (``--data-dir`` or the settings' ``database_url``),
so a fresh install gets to a first upload with ``accounts create`` and ``tokens create``.
``--json`` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enlarger.catalog.store import Catalog
from enlarger.catalog.usage_store import UsageStore
from enlarger.hosting import Hosting
from enlarger.security.signing import sign_url
from enlarger.settings import Settings, load_settings
from enlarger.storage.factory import open_storage


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir)


def _catalog(args: argparse.Namespace) -> Catalog:
    return Catalog(_settings(args).catalog_url)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _account_json(account: Any) -> dict[str, Any]:
    return {
        "id": account.id,
        "hash": account.hash,
        "name": account.name,
        "flexible_variants": account.flexible_variants,
        "created": account.created.isoformat(),
    }


def _accounts_create(args: argparse.Namespace) -> int:
    account = _catalog(args).create_account(args.name)
    _emit(args, _account_json(account), f"account {account.id} (hash {account.hash}) created")
    return 0


def _accounts_list(args: argparse.Namespace) -> int:
    found = _catalog(args).accounts()
    lines = "\n".join(f"{a.id}  {a.hash}  {a.name}" for a in found) or "no accounts"
    _emit(args, [_account_json(a) for a in found], lines)
    return 0


def _accounts_update(args: argparse.Namespace) -> int:
    account = _catalog(args).set_flexible_variants(args.account, args.flexible_variants == "on")
    _emit(args, _account_json(account), f"account {account.id}: flexible variants {args.flexible_variants}")
    return 0


def _quota_value(text: str) -> int | None:
    if text == "default":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number or 'default', got {text!r}")
    return int(text)


def _accounts_quota(args: argparse.Namespace) -> int:
    """The account's own unique-transformation quota; ``default`` follows the setting again."""
    quota = args.transformations
    UsageStore(_catalog(args)).set_transformation_quota(args.account, quota)
    shown = "the transformation_quota setting" if quota is None else f"{quota} (0: unlimited)"
    _emit(args, {"account": args.account, "transformation_quota": quota}, f"account {args.account}: quota {shown}")
    return 0


def _tokens_create(args: argparse.Namespace) -> int:
    token, secret = _catalog(args).create_token(args.account, args.name)
    data = {"id": token.id, "account": token.account_id, "token": secret}
    _emit(args, data, f"token {token.id} for account {token.account_id}:\n{secret}\n(shown once; store it now)")
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    found = _catalog(args).tokens(args.account)
    rows = [{"id": t.id, "name": t.name, "created": t.created, "revoked": t.revoked} for t in found]
    lines = "\n".join(f"{t.id}  {t.name or '-'}  {'revoked' if t.revoked else 'active'}" for t in found)
    _emit(args, rows, lines or "no tokens")
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    _catalog(args).revoke_token(args.token_id, None)  # the operator: any account
    _emit(args, {"id": args.token_id, "revoked": True}, f"token {args.token_id} revoked")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    keys = _catalog(args).keys(args.account)
    _emit(args, [{"name": k.name, "value": k.value} for k in keys], "\n".join(f"{k.name}  {k.value}" for k in keys))
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    keys = _catalog(args).put_key(args.account, args.name)
    value = next(k.value for k in keys if k.name == args.name)
    _emit(args, {"name": args.name, "value": value}, f"key {args.name} is now {value}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    keys = {k.name: k.value for k in catalog.keys(args.account)}
    if args.key not in keys:
        print(f"enlarger: error: account has no signing key {args.key!r}", file=sys.stderr)
        return 1
    expires = int(time.time()) + args.expires_in if args.expires_in else None
    url = sign_url(keys[args.key], args.path, expires=expires)
    _emit(args, {"url": url, "expires": expires}, url)
    return 0


def _gc(args: argparse.Namespace) -> int:
    settings = _settings(args)
    removed = Hosting(Catalog(settings.catalog_url), open_storage(settings), settings).collect_orphans()
    _emit(args, {"removed": removed}, f"removed {removed} orphaned blob(s)")
    return 0


def add_commands(commands: Any) -> None:
    """Register the operator commands on the main parser's subcommands."""

    def group(name: str, help_text: str) -> Any:
        return commands.add_parser(name, help=help_text, description=help_text).add_subparsers(
            dest=f"{name}_command", required=True, metavar="ACTION"
        )

    def action(parent: Any, name: str, help_text: str, run: Callable[[argparse.Namespace], int]) -> Any:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data-dir", type=Path, help="data directory holding the catalog (default ./enlarger-data)")
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        p.set_defaults(run=run)
        return p

    accounts = group("accounts", "manage accounts (each has an id, a delivery hash, variants and keys)")
    action(accounts, "create", "create an account", _accounts_create).add_argument("--name", default="")
    action(accounts, "list", "list accounts", _accounts_list)
    p = action(accounts, "update", "change an account's settings", _accounts_update)
    p.add_argument("account", help="account id")
    p.add_argument("--flexible-variants", choices=["on", "off"], required=True, help="options in delivery URLs")
    p = action(accounts, "quota", "set an account's unique-transformation quota (30 days)", _accounts_quota)
    p.add_argument("account", help="account id")
    p.add_argument(
        "--transformations",
        required=True,
        type=_quota_value,
        help="a number (0: unlimited), or default for the setting",
    )

    tokens = group("tokens", "manage API tokens (Authorization: Bearer <token>)")
    p = action(tokens, "create", "create a token; its secret is printed once", _tokens_create)
    p.add_argument("--account", required=True, help="account id")
    p.add_argument("--name", default="", help="a label for the token")
    action(tokens, "list", "list an account's tokens", _tokens_list).add_argument("--account", required=True)
    action(tokens, "revoke", "revoke a token", _tokens_revoke).add_argument("token_id", help="token id (from list)")

    keys = group("keys", "manage URL signing keys")
    action(keys, "list", "list an account's signing keys", _keys_list).add_argument("--account", required=True)
    p = action(keys, "rotate", "give a key a fresh value (creates it if missing)", _keys_rotate)
    p.add_argument("--account", required=True)
    p.add_argument("--name", default="default", help="key name (default: default)")

    p = action(commands, "sign", "sign a delivery path with an account key", _sign)
    p.add_argument("path", help="delivery path, e.g. /<account_hash>/<image_id>/public")
    p.add_argument("--account", required=True)
    p.add_argument("--key", default="default", help="signing key name")
    p.add_argument("--expires-in", type=int, default=0, help="seconds until the URL expires (0: never)")

    action(commands, "gc", "delete orphaned blobs and expired upload slots", _gc)
