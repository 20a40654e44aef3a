"""Images by digest: which images the stack renders, their digests, and whether they moved.

``reference`` parses image references (pure); ``pins`` lists the stack's images and
compares digests (pure); ``resolve`` asks registries (HTTP); ``envfile`` rewrites an
environment file keeping its comments; ``pin`` runs ``invoke images.pin`` / ``images.check``.
"""
