"""Search for the fastest deployment within an accuracy budget (edgebench optimize)."""
