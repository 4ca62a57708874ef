"""The labeling screen (``pages/label.py``): working state, class controls, drawing, shortcuts."""
