"""The metadata database: models, connections, queue SQL, views."""
