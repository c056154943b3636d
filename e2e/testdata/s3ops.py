"""Run a script of S3 operations with boto3 and print the results as JSON.

Input (stdin): a JSON list of {"op": put|get|head|delete|list|presign_get|
presign_put|download_file, "bucket", "key", "body" (base64), "content_type",
"prefix", "path"}.
Output (stdout): a JSON list of {"status", "x_cache", "body" (base64),
"code", "keys", "url", "error"}, one per op; presign_* only make a SigV4
presigned URL (in "url") for the endpoint, valid for 10 minutes;
download_file saves the object at "path" with boto3's managed transfer
and its default settings. The endpoint comes from S3_E2E_ENDPOINT, the
keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the addressing style
from S3_E2E_ADDRESSING (path, the default, or virtual).
"""

import base64
import json
import os
import sys

from botocore.exceptions import ClientError

from s3client import client


def headers_of(resp):
    return resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}


def run(s3, op):
    res = {"status": 0, "x_cache": "", "body": None, "code": "", "keys": None, "url": "", "error": ""}
    kind, bucket, key = op["op"], op["bucket"], op.get("key", "")
    try:
        if kind == "put":
            kw = {}
            if op.get("content_type"):
                kw["ContentType"] = op["content_type"]
            body = base64.b64decode(op.get("body") or "")
            resp = s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)
        elif kind == "get":
            resp = s3.get_object(Bucket=bucket, Key=key)
            res["body"] = base64.b64encode(resp["Body"].read()).decode()
        elif kind == "head":
            resp = s3.head_object(Bucket=bucket, Key=key)
        elif kind == "delete":
            resp = s3.delete_object(Bucket=bucket, Key=key)
        elif kind == "download_file":
            s3.download_file(bucket, key, op["path"])
            res["status"] = 200
            return res
        elif kind in ("presign_get", "presign_put"):
            method = "get_object" if kind == "presign_get" else "put_object"
            res["url"] = s3.generate_presigned_url(
                method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
            return res
        elif kind == "list":
            keys, resp = [], {}
            token = None
            for _ in range(100):
                kw = {"Bucket": bucket, "Prefix": op.get("prefix", "")}
                if token:
                    kw["ContinuationToken"] = token
                resp = s3.list_objects_v2(**kw)
                keys += [o["Key"] for o in resp.get("Contents", [])]
                token = resp.get("NextContinuationToken")
                if not resp.get("IsTruncated") or not token:
                    break
            res["keys"] = keys
        else:
            raise ValueError("unknown op %r" % kind)
        res["status"] = resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        res["x_cache"] = headers_of(resp).get("x-cache", "")
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        res["status"] = meta.get("HTTPStatusCode", 0)
        res["x_cache"] = (meta.get("HTTPHeaders") or {}).get("x-cache", "")
        res["code"] = e.response.get("Error", {}).get("Code", "")
        res["error"] = str(e)
    except Exception as e:  # a client-side failure is a result too
        res["error"] = "%s: %s" % (type(e).__name__, e)
    return res


def main():
    ops = json.load(sys.stdin)
    s3 = client()
    json.dump([run(s3, op) for op in ops], sys.stdout)


if __name__ == "__main__":
    main()
