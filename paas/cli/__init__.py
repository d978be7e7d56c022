"""click commands only: parse → validate → call a service function → print."""
