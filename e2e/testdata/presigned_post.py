"""Make a browser POST upload form with boto3's generate_presigned_post
and print it as JSON: {"url": …, "fields": {…}}.

Environment: S3_E2E_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
S3_E2E_BUCKET, S3_E2E_POST: JSON {"key", "fields", "conditions",
"expires"} passed to generate_presigned_post.
"""

import json
import os

from s3client import client

c = client()
spec = json.loads(os.environ["S3_E2E_POST"])
post = c.generate_presigned_post(
    Bucket=os.environ["S3_E2E_BUCKET"],
    Key=spec["key"],
    Fields=spec.get("fields") or None,
    Conditions=spec.get("conditions") or None,
    ExpiresIn=spec.get("expires", 600),
)
print(json.dumps(post))
