"""annota core: the logic behind every screen, importable and testable without Streamlit."""
