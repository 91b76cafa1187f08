"""Stage 6: a static site of generated images (publish.py), served as is or live from a
generator (server.py, live_pool.py); entry.py is what the page is told about each image.

    from nonesuch.web import publish_run
    publish_run("smileys32", "site/", count=100)
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.web.entry": ["PageEntry"],
    "nonesuch.web.errors": ["WebError"],
    "nonesuch.web.publish": ["PublishConfig", "PublishError", "SiteSummary", "publish_run", "publish_site"],
    "nonesuch.web.server": ["LiveConfig", "ServeError", "ServerConfig", "create_app", "serve",
                            "start_server"],
})
