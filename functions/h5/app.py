"""/h5/{task_id}...: the hosted H5 authorization page and its endpoints (no API key: the page's
single-use link token, then its cookie). The page's files are in ``static/``."""

from pathlib import Path

from carrier_auth import h5

lambda_handler = h5.page_function(Path(__file__).resolve().with_name("static"))
