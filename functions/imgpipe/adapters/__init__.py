"""boto3 implementations of the ports in `imgpipe.ports`.

Each adapter takes an already built client, so the handler decides endpoints and retries once, at cold
start, and integration tests hand in clients made under moto.
"""
