"""paas: a desired-state deploy controller for AWS ECS."""

__version__ = "0.1.0"
