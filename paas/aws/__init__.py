"""The only package that imports boto3: a narrow driver interface and its boto3 implementation."""
