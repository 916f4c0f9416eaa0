"""The REST API (FastAPI): ``create_app(settings)``, routers under ``jingyun.api.routers``."""

from jingyun.api.app import create_app

__all__ = ["create_app"]
