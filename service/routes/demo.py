"""The dash.js demo page: the player, our ABR rule, and live charts per chunk."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from service.deps import ServiceDep
from service.errors import Missing

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/demo")
async def demo_page() -> FileResponse:
    return FileResponse(STATIC / "demo.html", media_type="text/html")


@router.get("/demo/abr-service-rule.js")
async def demo_rule() -> FileResponse:
    return FileResponse(STATIC / "abr-service-rule.js", media_type="text/javascript")


@router.get("/demo/dash.all.min.js", response_model=None)
async def demo_dashjs(service: ServiceDep) -> Response:
    return _installed("dashjs_path", service.settings.dashjs_path, "text/javascript")


@router.get("/demo/uPlot.iife.min.js", response_model=None)
async def demo_uplot(service: ServiceDep) -> Response:
    path = service.settings.uplot_dir / "uPlot.iife.min.js"
    return _installed("uplot_dir", path, "text/javascript")


@router.get("/demo/uPlot.min.css", response_model=None)
async def demo_uplot_css(service: ServiceDep) -> Response:
    return _installed("uplot_dir", service.settings.uplot_dir / "uPlot.min.css", "text/css")


def _installed(setting: str, path: Path, media_type: str) -> FileResponse:
    """A file the demo page loads from npm's install, or a 404 that says how to get it."""
    if not path.is_file():
        raise Missing(setting, f"{path.name} is not installed (npm install in players/dashjs)")
    return FileResponse(path, media_type=media_type)
