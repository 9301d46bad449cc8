"""GPU Shopper's Streamlit app: `streamlit run dashboards/app.py`."""
