"""The Streamlit side: cached resources, session helpers and shared widgets (pages stay thin)."""
