"""Which workspace the storefront shows and what its pages need of it: the demo workspace
(created or re-keyed by ``relevo demo``), its browser source's key and its trust secrets.

Keys are stored hashed, but a browser source's key also in clear (it is public: every page
prints it), so the storefront reads it from the workspace's sources; the identity and link
secrets, which the storefront's "server side" uses to sign identity tokens and e-mail links,
are the workspace's trust keys. Nothing is written to a file beside the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relevo.errors import NotFound
from relevo.storage.workspace_store import WorkspaceStore
from relevo.workspaces.keys import KeyKind

DEMO_WORKSPACE = "demo"


class ShopNotLoaded(NotFound):
    code = "demo_not_loaded"


@dataclass(frozen=True)
class DemoShop:
    workspace_id: int
    write_key: str
    identity_secret: str = field(repr=False)
    link_secret: str = field(repr=False)


def demo_shop(workspaces: WorkspaceStore, name: str = DEMO_WORKSPACE) -> DemoShop:
    """Read at every page: a re-keyed demo serves its new keys at once."""
    try:
        workspace = workspaces.by_name(name)
    except NotFound:
        raise ShopNotLoaded(
            f"there is no {name!r} workspace yet: load the demo shop with ./scripts/demo "
            "(or `relevo demo`)"
        ) from None
    browser = next(
        (s for s in workspaces.sources(name) if s.kind is KeyKind.BROWSER and s.public_key), None
    )
    if browser is None or browser.public_key is None:
        raise ShopNotLoaded(f"the {name!r} workspace has no browser source: run `relevo demo`")
    trust = workspaces.trust_keys(workspace.id)
    return DemoShop(workspace.id, browser.public_key, trust.identity_secret, trust.link_secret)
