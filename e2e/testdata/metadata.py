"""Put an object with user metadata through boto3, then read it back in
every way a cache answers, and print each read's Metadata dict as JSON.

Environment: S3_E2E_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
S3_E2E_BUCKET, S3_E2E_KEY.
Output (stdout): {"<read>": {metadata…}, …} for head (a miss), get (a
miss, then a hit), head again (a hit) and a get with response-* overrides
(relayed).
"""

import json
import os

from s3client import client

c = client()
bucket, key = os.environ["S3_E2E_BUCKET"], os.environ["S3_E2E_KEY"]
c.put_object(Bucket=bucket, Key=key, Body=b"with metadata", Metadata={"foo": "bar", "CamelKey": "v"})
out = {}
out["head, first"] = c.head_object(Bucket=bucket, Key=key)["Metadata"]
for read in ("get, first", "get, again"):
    r = c.get_object(Bucket=bucket, Key=key)
    r["Body"].read()
    out[read] = r["Metadata"]
out["head, again"] = c.head_object(Bucket=bucket, Key=key)["Metadata"]
r = c.get_object(Bucket=bucket, Key=key, ResponseContentType="text/plain")
r["Body"].read()
out["get with an override"] = r["Metadata"]
print(json.dumps(out))
