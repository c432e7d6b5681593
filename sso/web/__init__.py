"""HTTP: routes, dependencies, templates, middleware. FastAPI, Starlette and Jinja2 live only
in this layer (and in admin/ and developers/)."""
