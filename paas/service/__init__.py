"""Use cases on the metadata database. Each takes a `Db` and leaves the commit to the caller."""
