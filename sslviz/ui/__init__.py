"""Streamlit widgets shared by the pages. Only this package (and app.py, pages/) imports streamlit."""
