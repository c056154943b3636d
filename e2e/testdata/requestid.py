"""Provoke S3 errors with boto3 and print, for each, the RequestId of the
error body next to the x-amz-request-id header, the way ceph/s3-tests'
test_object_requestid_matches_header_on_error compares them.

Environment: S3_E2E_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
S3_E2E_BUCKET (an existing bucket), S3_E2E_MISSING_BUCKET (a bucket that
does not exist).
Output (stdout): {"<call>": {"status", "code", "header", "body"}, …}.
"""

import json
import os
import xml.etree.ElementTree as ET

from botocore.exceptions import ClientError

from s3client import client

c = client()
bucket, missing = os.environ["S3_E2E_BUCKET"], os.environ["S3_E2E_MISSING_BUCKET"]

last = {}


def keep_response(http_response, **kwargs):
    last["content"] = http_response.content


c.meta.events.register("after-call.s3", keep_response)

calls = {
    "get_object of a missing key": lambda: c.get_object(Bucket=bucket, Key="no/such/key"),
    "get_object of a missing key, again": lambda: c.get_object(Bucket=bucket, Key="no/such/key"),
    "get_object with a range": lambda: c.get_object(Bucket=bucket, Key="no/such/key", Range="bytes=0-9"),
    "list_objects_v2 of a missing bucket": lambda: c.list_objects_v2(Bucket=missing),
    "put_object to a missing bucket": lambda: c.put_object(Bucket=missing, Key="k", Body=b"x"),
    "delete_bucket of a missing bucket": lambda: c.delete_bucket(Bucket=missing),
}
out = {}
for name, call in calls.items():
    last.clear()
    try:
        call()
        out[name] = {"status": 200}
        continue
    except ClientError as e:
        body = last.get("content", b"")
        rid = ET.fromstring(body).find(".//RequestId") if body else None
        out[name] = {
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            "code": e.response["Error"]["Code"],
            "header": e.response["ResponseMetadata"].get("RequestId", ""),
            "body": rid.text if rid is not None else None,
        }
print(json.dumps(out))
