"""The demo storefront (``/demo``): a small gift shop over the demo catalog, served by Relevo
itself, whose pages load the snippet with the demo workspace's browser key and mark their
placements, products and cart buttons, so a person sees the seeded experiences change as they
browse and switch personas. Pages are Jinja2 templates (``templates/``); the routes are in
``relevo/api/routes/storefront.py``."""
