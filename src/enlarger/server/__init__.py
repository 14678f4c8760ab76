"""The HTTP front door: thin ASGI routes over the engine."""
