// The AWS SDK for JavaScript v3 as an independent S3 client, for the
// interoperability test: what one client writes the other reads back.
//   node sdk.mjs ENDPOINT BUCKET put KEY FILE    upload FILE (multipart when large)
//   node sdk.mjs ENDPOINT BUCKET get KEY FILE    download KEY into FILE
//   node sdk.mjs ENDPOINT BUCKET head KEY        print "SIZE ETAG"
//   node sdk.mjs ENDPOINT BUCKET list PREFIX     print "KEY SIZE" for every key under PREFIX
// Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION as for any SDK program.
import fs from 'node:fs';
import { S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

// the SDK's notice about future Node versions is not this test's output
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const [endpoint, bucket, op, key, file] = process.argv.slice(2);
const client = new S3Client({ endpoint, forcePathStyle: true, region: process.env.AWS_REGION || 'us-east-1' });
try {
  if (op === 'put') {
    const body = fs.readFileSync(file);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } else if (op === 'get') {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    fs.writeFileSync(file, Buffer.from(await out.Body.transformToByteArray()));
  } else if (op === 'head') {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    console.log(`${out.ContentLength} ${out.ETag}`);
  } else if (op === 'list') {
    let token;
    do {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
      for (const o of out.Contents || []) console.log(`${o.Key} ${o.Size}`);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  } else {
    throw new Error(`unknown operation ${op}`);
  }
} catch (e) {
  console.error(`sdk.mjs: ${op} ${bucket}/${key}: ${e.name}: ${e.message}`);
  process.exit(1);
}
