"""Pure types and rules: no I/O, no database, no AWS, no click."""
