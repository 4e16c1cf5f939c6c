"""``--engine ray``: Ray tasks decode and Ray actors classify, results in input order."""
