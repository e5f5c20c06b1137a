"""The HTTP face of the service: the FastAPI app (``app.build_app`` wires the core, the routes
and the adapters it is handed; ``service/app.py`` lists them), dependencies, routes,
request/response schemas, the public views of jobs, and the mapping of errors to responses."""
