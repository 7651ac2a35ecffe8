"""CDK constructs and stacks. `infra.constants` is CDK-free and shared with the runtime and tests."""
