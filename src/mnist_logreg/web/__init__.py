"""The draw-a-digit web page and its JSON API (optional extra ``web``: FastAPI + uvicorn)."""
