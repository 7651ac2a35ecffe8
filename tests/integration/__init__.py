"""Integration tests under moto (mock_aws) with real boto3 and the real adapters."""
