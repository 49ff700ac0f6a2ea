"""The HTTP API: FastAPI app, identity, permissions, problem details. ``create_app`` builds it."""

from service.api.app import create_app

__all__ = ["create_app"]
