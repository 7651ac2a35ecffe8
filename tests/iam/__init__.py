"""The IAM-enforced tier: each function's boto3 calls as its synthesised role, in moto and our evaluator."""
