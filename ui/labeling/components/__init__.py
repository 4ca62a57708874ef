"""Custom Streamlit components of the labeling screen (components v2, inline HTML/JS/CSS)."""
