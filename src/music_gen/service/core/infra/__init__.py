"""What the jobs stand on: settings, the database and its migrations, storage and quotas, API
keys, webhooks, the URL guard and the model catalog.

Nothing here knows a job's spec, the worker or a backend (``jobs/`` and ``runners/`` sit above).
"""
