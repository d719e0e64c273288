"""The bitrate decision service: `service.app.create_app(settings)` (FastAPI), torch-free."""
