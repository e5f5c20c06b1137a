"""The service core: settings, database, jobs, the worker and its backends, storage, keys,
webhooks, the URL guard, the model catalog and submission.

It knows no HTTP route, no request schema of the API and no vendor adapter: ``service.api``
and the adapters import it, never the other way round (``python ../shared/hooks/layering.py``).
"""
