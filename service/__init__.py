"""The bitrate decision service (FastAPI). Not built yet: see the service issue."""
