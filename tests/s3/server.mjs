// A loopback S3 server for the tests: s3rver (which checks only the access
// key id, not signatures) behind a proxy that verifies EVERY request's
// SigV4 signature with the AWS SDK's own signer (@smithy/signature-v4) and
// answers 403 to a bad one, the way S3 does. It can also inject faults so
// the client's retries are tested.
//
//   node server.mjs --dir DIR --port-file FILE [--bucket NAME]...
//                   [--access-key ID --secret KEY --region REGION]
//
// It writes the proxy's port to FILE once both servers listen, and runs until
// killed. Control requests (not S3, never signed) on /__control/:
//   POST /__control/fault  {"match": "key substring", "method": "GET", "query": "uploadId=",
//                           "status": 503 | "drop" | "cut", "code": "SlowDown", "count": 2}
//        the next COUNT matching requests (path holding MATCH, and METHOD and
//        a query holding QUERY when given) get that status with an S3 error
//        body (200 too: CompleteMultipartUpload can fail that way), or their
//        connection dropped before an answer ("drop"), or s3rver's answer
//        cut off after half its body ("cut")
//   GET  /__control/stats  {"requests", "verified", "rejected", "faults", "lastRejection"}
//
// s3rver 3.7 has no AbortMultipartUpload; the proxy answers it by removing
// the upload's parts from s3rver's store (DIR/BUCKET/._S3rver_uploads/ID).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

const opt = { bucket: [], 'access-key': 'DITSTESTKEY', secret: 'dits-test-secret/KEY+1', region: 'us-east-1' };
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, '');
  const value = process.argv[i + 1];
  if (value === undefined) throw new Error(`${process.argv[i]} needs a value`);
  if (name === 'bucket') opt.bucket.push(value);
  else opt[name] = value;
}
if (!opt.dir || !opt['port-file']) {
  console.error('usage: node server.mjs --dir DIR --port-file FILE [--bucket NAME]...');
  process.exit(2);
}
if (opt.bucket.length === 0) opt.bucket.push('dits-test');

const faults = [];
const stats = { requests: 0, verified: 0, rejected: 0, faults: 0, lastRejection: '' };

// S3's canonical URI: each segment of the decoded path, URI-encoded with
// only the unreserved characters left as they are.
const encodeStrict = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const canonicalPath = (raw) => raw.split('/').map((seg) => encodeStrict(decodeURIComponent(seg))).join('/');

function parseQuery(raw) {
  const query = {};
  if (!raw) return query;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    query[k] = v;
  }
  return query;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// Returns null when the request is signed right, else {code, message}.
async function verify(req, rawPath, rawQuery, body) {
  const auth = req.headers.authorization;
  if (!auth) return { code: 'AccessDenied', message: 'Access Denied (no Authorization header)' };
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { code: 'AuthorizationHeaderMalformed', message: `The authorization header is malformed: ${auth}` };
  const [, keyId, day, region, signedList, signature] = m;
  if (keyId !== opt['access-key']) return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (region !== opt.region) return { code: 'AuthorizationHeaderMalformed', message: `the region '${region}' is wrong; expecting '${opt.region}'` };
  const date = parseAmzDate(req.headers['x-amz-date']);
  if (!date) return { code: 'AccessDenied', message: 'missing or malformed x-amz-date' };
  if (req.headers['x-amz-date'].slice(0, 8) !== day) return { code: 'SignatureDoesNotMatch', message: 'credential scope date differs from x-amz-date' };
  if (Math.abs(Date.now() - date.getTime()) > 15 * 60 * 1000) return { code: 'RequestTimeTooSkewed', message: 'The difference between the request time and the current time is too large.' };
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return { code: 'InvalidRequest', message: 'Missing required header for this request: x-amz-content-sha256' };
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== crypto.createHash('sha256').update(body).digest('hex'))
    return { code: 'XAmzContentSHA256Mismatch', message: "The provided 'x-amz-content-sha256' header does not match what was computed." };
  const signed = signedList.split(';');
  for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!signed.includes(h)) return { code: 'AccessDenied', message: `header ${h} is not signed` };
  if (req.headers['x-amz-security-token'] !== undefined && !signed.includes('x-amz-security-token'))
    return { code: 'AccessDenied', message: 'x-amz-security-token is not signed' };
  const headers = {};
  for (const h of signed) {
    if (req.headers[h] === undefined) return { code: 'AccessDenied', message: `signed header ${h} is absent` };
    headers[h] = req.headers[h];
  }
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: keyId,
      secretAccessKey: opt.secret,
      sessionToken: req.headers['x-amz-security-token'],
    },
    region: opt.region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false, // the path below is already in S3's canonical form
    applyChecksum: true,
  });
  const out = await signer.sign({
    method: req.method,
    protocol: 'http:',
    hostname: req.headers.host,
    path: canonicalPath(rawPath),
    query: parseQuery(rawQuery),
    headers,
    body,
  }, { signingDate: date, signableHeaders: new Set(signed) });
  const want = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
  const wantList = /SignedHeaders=([^,]+)/.exec(out.headers.authorization)[1];
  if (want !== signature || wantList !== signedList)
    return { code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.' };
  return null;
}

function sendError(res, status, code, message, resource) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message><Resource>${resource}</Resource><RequestId>0</RequestId></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(req_is_head(res) ? undefined : body);
}
const req_is_head = (res) => res.req && res.req.method === 'HEAD';

function control(req, res, pathname, body) {
  if (pathname === '/__control/fault' && req.method === 'POST') {
    const f = JSON.parse(body.toString('utf8'));
    faults.push({ match: f.match, method: f.method, query: f.query, status: f.status, code: f.code || 'ServiceUnavailable', count: f.count || 1 });
    res.writeHead(204);
    return res.end();
  }
  if (pathname === '/__control/stats' && req.method === 'GET') {
    const text = JSON.stringify(stats);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    return res.end(text);
  }
  res.writeHead(404);
  res.end();
}

const s3rver = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: opt.dir,
  configureBuckets: opt.bucket.map((name) => ({ name, configs: [] })),
});
const backend = await s3rver.run();

const proxy = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const q = req.url.indexOf('?');
    const rawPath = q < 0 ? req.url : req.url.slice(0, q);
    const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
    if (rawPath.startsWith('/__control/')) return control(req, res, rawPath, body);
    stats.requests++;
    const bad = await verify(req, rawPath, rawQuery, body);
    if (bad) {
      stats.rejected++;
      stats.lastRejection = `${req.method} ${req.url}: ${bad.code}`;
      return sendError(res, 403, bad.code, bad.message, rawPath);
    }
    stats.verified++;
    const decoded = decodeURIComponent(rawPath);
    const fault = faults.find((f) => f.count > 0 && decoded.includes(f.match) &&
      (!f.method || f.method === req.method) && (!f.query || rawQuery.includes(f.query)));
    let cut = false;
    if (fault) {
      fault.count--;
      stats.faults++;
      if (fault.status === 'drop') return req.socket.destroy();
      if (fault.status === 'cut') cut = true;
      else return sendError(res, fault.status, fault.code, 'injected fault', rawPath);
    }
    const query = parseQuery(rawQuery);
    if (req.method === 'DELETE' && 'uploadId' in query) {
      const bucket = decoded.split('/')[1];
      const id = query.uploadId;
      const dir = path.join(opt.dir, bucket, '._S3rver_uploads', id);
      if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(dir))
        return sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.', rawPath);
      fs.rmSync(dir, { recursive: true, force: true });
      res.writeHead(204);
      return res.end();
    }
    const headers = { ...req.headers };
    delete headers.authorization; // s3rver would check it with its own key
    delete headers.expect;
    headers['content-length'] = String(body.length);
    delete headers['transfer-encoding'];
    const up = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      if (!cut) return r.pipe(res);
      const parts = [];
      r.on('data', (d) => parts.push(d));
      r.on('end', () => {
        const all = Buffer.concat(parts);
        res.write(all.subarray(0, all.length >> 1), () => res.destroy());
      });
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    up.end(body);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) sendError(res, 500, 'InternalError', String(e), req.url);
    else res.destroy();
  }
});
proxy.listen(0, '127.0.0.1', () => {
  const tmp = opt['port-file'] + '.tmp';
  fs.writeFileSync(tmp, `${proxy.address().port}\n`);
  fs.renameSync(tmp, opt['port-file']);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
