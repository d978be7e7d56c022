"""Strategy recipes: each a linear list of checks that return the first unfinished step."""
