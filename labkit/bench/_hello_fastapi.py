"""The same answer from FastAPI: what the framework alone costs over the bare ceiling.

A module of its own, so the bare ceiling's process never imports FastAPI.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/")
async def hello() -> dict[str, str]:
    """Answer 200 with the same small body as the bare ceiling."""
    return {"hello": "world"}
