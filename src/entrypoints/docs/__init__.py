"""The API docs: the OpenAPI document and the Swagger UI page."""
