// Download one object to a file with the AWS SDK for JavaScript v3, the way
// an application does, with the SDK's default settings.
//
//   node download.mjs get BUCKET KEY FILE        GetObject, Body streamed to FILE
//   node download.mjs presigned BUCKET KEY FILE  a presigned GetObject URL
//                                                fetched with node's fetch
//
// The endpoint comes from S3_E2E_ENDPOINT (path style), the keys from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the region from AWS_REGION or
// AWS_DEFAULT_REGION. Exits non-zero, with the error on stderr, on failure.

import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const [mode, bucket, key, file] = process.argv.slice(2);
if (!file || (mode !== "get" && mode !== "presigned")) {
  console.error("usage: node download.mjs get|presigned BUCKET KEY FILE");
  process.exit(2);
}

const s3 = new S3Client({
  endpoint: process.env.S3_E2E_ENDPOINT,
  forcePathStyle: true,
  region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
});

try {
  if (mode === "get") {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(out.Body, createWriteStream(file));
  } else {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 600 });
    const resp = await fetch(url);
    if (resp.status !== 200) {
      throw new Error(`GET presigned URL: status ${resp.status}: ${await resp.text()}`);
    }
    await pipeline(Readable.fromWeb(resp.body), createWriteStream(file));
  }
} catch (err) {
  console.error(err);
  process.exit(1);
}
