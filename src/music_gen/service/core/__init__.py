"""The service core: settings, database, jobs, the worker and its backends, storage, keys,
webhooks, the URL guard, the model catalog and submission.

- ``infra/``: settings, database (+ Alembic ``migrations/``), storage, quota, auth, webhooks,
  URL guard, model catalog;
- ``jobs/``: job spec and requests, events, the job store;
- ``runners/``: the worker and the backends (in-process and Ray);
- here: ``state`` (wires them into one ``ServiceState``), ``submit`` and ``inputs`` (a request
  becomes a job), ``plugins`` (what an adapter may add).

Packages import downwards only: runners → jobs → infra. It knows no HTTP route, no request
schema of the API and no vendor adapter: ``service.api`` and the adapters import it, never the
other way round (``python ../shared/hooks/layering.py``).
"""
