"""imgpipe tests: unit, integration (moto), infra (synth), local (the dev stack), corpus."""
