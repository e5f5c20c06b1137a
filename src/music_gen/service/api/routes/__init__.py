"""The ``/api/v1`` routers: thin translations between HTTP and ``submit``/``JobStore``."""
