"""The HTTP face of the service: the FastAPI app (``app.create_app`` wires the core, the routes
and the vendor adapters), dependencies, routes, request/response schemas, the public views of
jobs, and the mapping of errors to responses."""
