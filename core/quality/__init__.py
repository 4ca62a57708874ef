"""Label quality: review verdicts (``review``), and the checks built on them (agreement, consensus, gold)."""
