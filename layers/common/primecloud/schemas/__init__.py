"""pydantic v2 request/response models: the API contract, one module per domain."""
