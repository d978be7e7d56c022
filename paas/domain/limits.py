"""AWS size limits that input checks need before anything is written (pure, no imports).

Kept out of paas/aws so the CLI can check a value without importing boto3 on its request path.
"""

# Secrets Manager SecretString: at most 65,536 bytes (the API's SecretStringType). Secret
# values are stored there (paas/aws/secrets.py), so a larger value is refused up front.
MAX_SECRET_BYTES = 65536
