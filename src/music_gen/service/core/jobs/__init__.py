"""What a job is: its spec and request shapes, the events it reports and the job store.

Built on ``infra/``; the runners that carry jobs out (``runners/``) sit above.
"""
