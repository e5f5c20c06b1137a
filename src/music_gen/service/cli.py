"""``music-gen serve`` and ``music-gen keys …`` (registered by ``music_gen.cli``).

Flags override ``MUSIC_GEN_*`` environment variables; see ``service.settings.Settings``.
First contact: ``serve`` logs at INFO without Alembic's plugin chatter, and when keys are
required but none exists yet it says in one line how to create one and which URL to open.
Both commands need the ``service`` extra (``pip install 'music-gen[service]'``) and say so
when it is missing. ``serve --ray ADDRESS|local`` (with ``--replicas`` or ``--min/--max-replicas``
and ``--gpus-per-replica``) runs generation on Ray Serve replicas; it needs the ``ray`` extra
and a PostgreSQL ``--database-url`` (docs/ray.md).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

__all__ = ["add_commands"]


SERVICE_EXTRA = "the HTTP service needs the `service` extra: pip install 'music-gen[service]'"


def _require_service() -> None:
    from importlib.util import find_spec

    from ..errors import UnsupportedFeature

    missing = [m for m in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings")
               if find_spec(m) is None]  # fmt: skip
    if missing:
        raise UnsupportedFeature(f"{SERVICE_EXTRA} (missing: {', '.join(missing)})",
                                 code="SERVICE_NOT_INSTALLED")  # fmt: skip


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    _require_service()
    from pydantic import ValidationError

    from ..errors import InvalidInput
    from .core.infra.settings import Settings

    overrides = {
        k: v
        for k, v in {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "model": getattr(args, "model", None),
            "data_dir": getattr(args, "data_dir", None),
            "database_url": getattr(args, "database_url", None),
            "engine": getattr(args, "engine", None),
            "device": getattr(args, "device", None),
            **extra,
        }.items()
        if v is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"bad setting: {first['msg']}", code="INVALID_SETTINGS") from exc


def _quiet_alembic(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade …" lines; drop its per-connection dialect notes."""
    return not record.getMessage().startswith(("Context impl", "Will assume"))


def first_contact(settings: Any, args: argparse.Namespace) -> str | None:
    """The one line to print when keys are required and none is active yet (else None)."""
    if not settings.auth:
        return None
    store = _keys(args)
    if any(key.revoked_at is None for key, _ in store.list_keys()):
        return None
    where = f" --data-dir {args.data_dir}" if getattr(args, "data_dir", None) else ""
    where += f" --database-url {args.database_url}" if getattr(args, "database_url", None) else ""
    return (
        f"no API key exists yet: create one with `music-gen keys create --name NAME{where}`, "
        f"then open {settings.base_url}/ and sign in with it"
    )


def _ray_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--ray`` and its sizing flags as settings (sizing without ``--ray`` is refused)."""
    sizing = {
        "ray_replicas": args.replicas,
        "ray_min_replicas": args.min_replicas,
        "ray_max_replicas": args.max_replicas,
        "ray_gpus_per_replica": args.gpus_per_replica,
        "ray_cpus_per_replica": args.cpus_per_replica,
    }
    given = {k: v for k, v in sizing.items() if v is not None}
    if args.ray is None:
        if given:
            from ..errors import InvalidInput

            flags = ", ".join("--" + k[4:].replace("_", "-") for k in given)
            raise InvalidInput(f"{flags} need --ray ADDRESS (or --ray local)",
                               code="INVALID_SETTINGS")  # fmt: skip
        return {}
    from importlib.util import find_spec

    if find_spec("ray") is None:
        from ..errors import UnsupportedFeature

        raise UnsupportedFeature("--ray needs the `ray` extra: pip install 'music-gen[ray]'",
                                 code="RAY_NOT_INSTALLED")  # fmt: skip
    return {"ray_address": args.ray, **given}


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args, auth=False if args.no_auth else None, **_ray_overrides(args))
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # 8 lines of noise
    logging.getLogger("alembic.runtime.migration").addFilter(_quiet_alembic)
    if settings.ray_address and settings.ray_address != "local":
        from .core.runners.ray_backend import join

        join(settings.ray_address)  # here, a refusal is one line (not a failed app startup)
    hint = first_contact(settings, args)
    if hint:
        print(hint, flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )
    return 0


def _keys(args: argparse.Namespace) -> Any:
    from .core.infra.auth import KeyStore
    from .core.infra.db import open_database

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return KeyStore(open_database(settings.db_url))


def _cmd_keys_create(args: argparse.Namespace) -> int:
    key, record, account = _keys(args).create_key(args.name, args.account)
    print(f"api key (shown once, store it now): {key}")
    print(f"key id: {record.id}  account: {account.name} ({account.id})")
    print(f"webhook signing secret of the account: {account.webhook_secret}")
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    for key, account in _keys(args).list_keys():
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.id}  {key.prefix}…  {key.name}  account={account.name}  {state}")
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    from ..errors import NotFound

    if not _keys(args).revoke(args.key):
        raise NotFound(f"no active key {args.key!r}")
    print(f"revoked {args.key}")
    return 0


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="jobs database and audio (MUSIC_GEN_DATA_DIR)")
    p.add_argument("--database-url", default=None, help="e.g. postgresql+psycopg://…")


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service (REST /api/v1, WebSocket)")
    serve.add_argument("--host", default=None, help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default 8000")
    serve.add_argument("--model", default=None, help="default facebook/musicgen-small")
    serve.add_argument(
        "--engine", choices=("fast", "onnxruntime", "reference", "test-tone"), default=None
    )
    serve.add_argument("--device", default=None)
    serve.add_argument(
        "--no-auth", action="store_true", help="no API keys (refused unless on loopback)"
    )
    _store_flags(serve)
    ray = serve.add_argument_group("scale-out on Ray Serve (docs/ray.md; needs --database-url)")
    ray.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run generation on a Ray cluster (its address, or `local`)",
    )
    ray.add_argument("--replicas", type=int, metavar="N", default=None, help="replicas (default 1)")
    ray.add_argument(
        "--min-replicas", type=int, metavar="N", default=None, help="autoscaling: at least"
    )
    ray.add_argument(
        "--max-replicas", type=int, metavar="N", default=None, help="autoscaling: at most"
    )
    ray.add_argument("--gpus-per-replica", type=float, metavar="G", default=None, help="default 0")
    ray.add_argument("--cpus-per-replica", type=float, metavar="C", default=None, help="default 1")
    serve.set_defaults(func=_cmd_serve)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    create = ksub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--account", default=None, help="account name (default: the key's name)")
    _store_flags(create)
    create.set_defaults(func=_cmd_keys_create)
    lst = ksub.add_parser("list", help="list keys")
    _store_flags(lst)
    lst.set_defaults(func=_cmd_keys_list)
    revoke = ksub.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key")
    _store_flags(revoke)
    revoke.set_defaults(func=_cmd_keys_revoke)
