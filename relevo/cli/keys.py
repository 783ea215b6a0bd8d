"""``relevo workspace`` and ``relevo source``: workspaces, their sources and keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from relevo.cli.common import DatabaseOption, fail, services_for
from relevo.errors import RelevoError
from relevo.workspaces.keys import KeyKind, NewSource, NewWorkspace

workspace_app = typer.Typer(help="Create and list workspaces (one per shop or site), rotate keys.")
source_app = typer.Typer(
    help="A workspace's sources: each client that sends events (browser, server) has its own "
    "write key."
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]
OriginOption = Annotated[
    list[str] | None,
    typer.Option(
        "--origin",
        help="An origin whose pages may use a browser key, e.g. https://shop.example "
        "(repeat for several; '*' allows any)",
    ),
]


def print_keys(created: NewWorkspace, as_json: bool = False) -> None:
    keys = {
        "name": created.workspace.name,
        "write_key": created.write_key,
        "server_write_key": created.server_write_key,
        "secret_key": created.secret_key,
        "identity_secret": created.identity_secret,
    }
    if as_json:
        typer.echo(json.dumps(keys))
        return
    typer.echo(f"workspace:        {created.workspace.name}")
    typer.echo(f"write key:        {created.write_key}   (browser: public, put it in web pages)")
    typer.echo(
        "                  allow your pages' origins first: "
        f"relevo source origins {created.workspace.name} browser --origin https://shop.example"
    )
    typer.echo(
        f"server write key: {created.server_write_key}   (server-side SDKs and imports; "
        "keep it secret)"
    )
    typer.echo(f"secret key:       {created.secret_key}   (reads and admin; shown once)")
    typer.echo(
        f"identity secret:  {created.identity_secret}   (your backend signs user hashes with it)"
    )


@workspace_app.command("create")
def workspace_create(
    name: str, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """Create a workspace with a browser and a server source; print their write keys, the secret
    key (shown once) and the identity secret."""
    with services_for(database_url) as services:
        try:
            created = services.workspaces.create(name)
        except RelevoError as error:
            fail(error)
            return
    print_keys(created, as_json)


@workspace_app.command("list")
def workspace_list(database_url: DatabaseOption = None) -> None:
    """List workspaces with their browser write keys."""
    with services_for(database_url) as services:
        for workspace in services.workspaces.all():
            browser = [
                s.public_key or ""
                for s in services.workspaces.sources(workspace.name)
                if s.kind is KeyKind.BROWSER
            ]
            typer.echo("\t".join([workspace.name, *browser]))


@workspace_app.command("rotate-secret")
def workspace_rotate(name: str, database_url: DatabaseOption = None) -> None:
    """Issue a new secret key; the old one stops working within a second."""
    with services_for(database_url) as services:
        try:
            _, secret = services.workspaces.rotate_secret(name)
        except RelevoError as error:
            fail(error)
            return
    typer.echo(f"secret key: {secret}   (shown once)")


@workspace_app.command("rotate-identity-secret")
def workspace_rotate_identity(name: str, database_url: DatabaseOption = None) -> None:
    """New identity secret: user hashes and identity tokens signed with the old one are only
    claims from now on (update the shop's backend at the same time)."""
    with services_for(database_url) as services:
        try:
            value = services.workspaces.rotate_trust_key(name, "identity_secret")
        except RelevoError as error:
            fail(error)
            return
    typer.echo(f"identity secret: {value}")


@workspace_app.command("rotate-link-secret")
def workspace_rotate_link(name: str, database_url: DatabaseOption = None) -> None:
    """Revoke every e-mail-link token issued so far (new tokens use a new key)."""
    with services_for(database_url) as services:
        try:
            services.workspaces.rotate_trust_key(name, "link_secret")
        except RelevoError as error:
            fail(error)
            return
    typer.echo("e-mail-link tokens issued so far no longer identify anybody")


@workspace_app.command("identity-secret")
def workspace_identity_secret(name: str, database_url: DatabaseOption = None) -> None:
    """Print the identity secret the shop's backend signs user hashes and identity tokens with."""
    with services_for(database_url) as services:
        try:
            typer.echo(services.workspaces.identity_secret(name))
        except RelevoError as error:
            fail(error)


def _print_source(created: NewSource, as_json: bool) -> None:
    source = created.source
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "name": source.name,
                    "kind": source.kind,
                    "write_key": created.key,
                    "origins": list(source.allowed_origins),
                }
            )
        )
        return
    note = "public: for web pages" if source.kind is KeyKind.BROWSER else "keep it secret"
    typer.echo(f"{source.name} ({source.kind}): {created.key}   ({note})")
    if source.kind is KeyKind.BROWSER:
        _print_origins(source.allowed_origins)


def _print_origins(origins: tuple[str, ...] | list[str]) -> None:
    if origins:
        typer.echo("allowed origins: " + " ".join(origins))
    else:
        typer.echo(
            "allowed origins: none yet (pages on other sites are refused; add them with "
            "`relevo source origins WORKSPACE SOURCE --origin https://...`)"
        )


@source_app.command("create")
def source_create(
    workspace: Annotated[str, typer.Argument(help="Workspace name")],
    name: Annotated[str, typer.Argument(help="Source name, e.g. 'web' or 'backend'")],
    kind: Annotated[KeyKind, typer.Option(help="browser (public key) or server (trusted)")],
    origin: OriginOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Add a source with its own write key (a browser source with the origins of its pages)."""
    with services_for(database_url) as services:
        try:
            created = services.workspaces.create_source(workspace, name, kind, tuple(origin or ()))
        except RelevoError as error:
            fail(error)
            return
    _print_source(created, as_json)


@source_app.command("list")
def source_list(
    workspace: Annotated[str, typer.Argument(help="Workspace name")],
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """List a workspace's sources (server keys by their first characters only)."""
    with services_for(database_url) as services:
        try:
            sources = services.workspaces.sources(workspace)
        except RelevoError as error:
            fail(error)
            return
    rows = [
        {
            "name": s.name,
            "kind": s.kind.value,
            "key": s.public_key or f"{s.key_hint}...",
            "origins": list(s.allowed_origins),
        }
        for s in sources
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(f"{row['name']}\t{row['kind']}\t{row['key']}\t{' '.join(row['origins'])}")


@source_app.command("origins")
def source_origins(
    workspace: Annotated[str, typer.Argument(help="Workspace name")],
    name: Annotated[str, typer.Argument(help="Browser source name")],
    origin: OriginOption = None,
    clear: Annotated[bool, typer.Option("--clear", help="Allow no origin")] = False,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show a browser source's allowed origins, or replace them with the --origin given (every
    worker follows within a second)."""
    with services_for(database_url) as services:
        try:
            if origin or clear:
                if origin and clear:
                    raise RelevoError("give --origin or --clear, not both")
                origins = services.workspaces.set_origins(
                    workspace, name, tuple(origin or ())
                ).allowed_origins
            else:
                found = [s for s in services.workspaces.sources(workspace) if s.name == name]
                if not found:
                    raise RelevoError(f"workspace {workspace!r} has no source named {name!r}")
                origins = found[0].allowed_origins
        except RelevoError as error:
            fail(error)
            return
    if as_json:
        typer.echo(json.dumps(list(origins)))
        return
    _print_origins(origins)


@source_app.command("rotate")
def source_rotate(
    workspace: Annotated[str, typer.Argument(help="Workspace name")],
    name: Annotated[str, typer.Argument(help="Source name")],
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """Issue a new write key for the source; the old one stops working within a second."""
    with services_for(database_url) as services:
        try:
            created = services.workspaces.rotate_source(workspace, name)
        except RelevoError as error:
            fail(error)
            return
    _print_source(created, as_json)
