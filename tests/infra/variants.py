"""The stage settings the infra tests synthesise: cdk.json's `dev` as shipped, and `full` (production with
every option on), both in one app so the whole suite costs one synthesis."""

from __future__ import annotations

from typing import Any

DEV_STACK = "imgpipe-dev"
FULL_STACK = "imgpipe-full"
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
