"""Drop-in endpoints for hosted music APIs, each a package that translates a vendor's API onto
the service's own jobs, validation, engine and storage: ``leap``, ``modelslab``, ``segmind``,
``aimlapi``. Each owns its routes, schemas, settings, tables (with its own migrations), webhook
body and middleware, and plugs in through ``core.plugins.Adapter`` (``<vendor>.adapter()``);
``service/app.py`` is the one place that lists them. What they share is in ``common``.
"""
