"""The stage settings the infra tests synthesise: cdk.json's `dev` as shipped, `full` (production with
every option on, in us-east-1) and `euwest` (pinned outside us-east-1, so its CloudFront alarms go to a
us-east-1 stack of their own), all in one app so the whole suite costs one synthesis."""

from __future__ import annotations

from typing import Any

DEV_STACK = "imgpipe-dev"
FULL_STACK = "imgpipe-full"
EU_STACK = "imgpipe-euwest"
EU_EDGE_STACK = "imgpipe-euwest-edge-monitoring"
EU_REGION = "eu-west-1"
ACCOUNT = "123456789012"
CERTIFICATE_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
USER_POOL_ARN = f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_example"

FULL: dict[str, Any] = {
    "production": True,
    "account": ACCOUNT,
    "region": "us-east-1",
    "alarmEmail": "ops@example.com",
    "domain": {"names": ["img.example.com"], "certificateArn": CERTIFICATE_ARN},
    "features": {
        "waf": {"enabled": True, "rateLimit": 1000},
        "originShieldRegion": "us-east-2",
        "tagger": "rekognition",
    },
    "api": {"cognitoUserPoolArn": USER_POOL_ARN},
}

EU: dict[str, Any] = {
    "account": ACCOUNT,
    "region": EU_REGION,
    "alarmEmail": "ops@example.com",
    "api": {"accountHasCloudWatchRole": True},
    "resizeReservedConcurrency": None,
}
