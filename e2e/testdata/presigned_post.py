"""Make a browser POST upload form with boto3's generate_presigned_post
and print it as JSON: {"url": …, "fields": {…}}.

Environment: S3_E2E_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
S3_E2E_BUCKET, S3_E2E_POST: JSON {"key", "fields", "conditions",
"expires"} passed to generate_presigned_post.
"""

import json
import os

import boto3
from botocore.config import Config

c = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_E2E_ENDPOINT"],
    region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
spec = json.loads(os.environ["S3_E2E_POST"])
post = c.generate_presigned_post(
    Bucket=os.environ["S3_E2E_BUCKET"],
    Key=spec["key"],
    Fields=spec.get("fields") or None,
    Conditions=spec.get("conditions") or None,
    ExpiresIn=spec.get("expires", 600),
)
print(json.dumps(post))
