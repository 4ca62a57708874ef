"""`make bench`: the measured figures behind the targets in the issues (tables printed, JSON written)."""
