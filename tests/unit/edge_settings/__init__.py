"""The edge-settings custom resource: the service on fakes, the handler's CloudFormation contract."""
