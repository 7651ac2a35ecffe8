"""The edge-settings custom resource: writes the stage's presets, policy and signing keys to the edge."""
