"""One script per page; `dashboards/app.py` lists them in its navigation."""
