"""Third-party dependencies for the Lambda layer, built for the Lambda runtime without Docker."""
