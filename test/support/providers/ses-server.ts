import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { startFakeHttp, type FakeAnswer, type ReceivedRequest } from './fake-http.ts';

/**
 * Amazon SES v2 (restJson1) on loopback: SendEmail (POST /v2/email/outbound-emails) and GetAccount
 * (GET /v2/email/account). Every request's AWS Signature Version 4 is recomputed here from the
 * secret key and compared, as SES does: unknown key → 403 UnrecognizedClientException, wrong
 * signature → 403 SignatureDoesNotMatch. Errors carry x-amzn-ErrorType and {"message"}.
 */
export interface SesFakeOptions {
  region: string;
  credentials: Record<string, string>;
  /** Recipients SES refuses with MessageRejected (the sandbox's unverified addresses). */
  rejected?: Set<string>;
  /** Accept this many messages, then answer every send with a throttle (429 TooManyRequestsException). */
  throttleAfter?: number;
  /** Keep every request (benchmarks replay one as their ceiling). */
  record?: boolean;
}

export interface SentRawEmail {
  id: string;
  raw: Buffer;
  to: string[];
  tags: Array<{ Name: string; Value: string }>;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

function awsError(status: number, type: string, message: string): FakeAnswer {
  return { status, headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/` }, body: { message } };
}

const encode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** null when the signature holds, else the answer SES gives. */
export function verifySigV4(request: ReceivedRequest, options: { region: string; service: string; credentials: Record<string, string>; now?: Date }): FakeAnswer | null {
  const header = String(request.headers.authorization ?? '');
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (!match) return awsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const [, accessKey, day, region, service, signedHeaderList, signature] = match as unknown as string[];
  const secret = options.credentials[accessKey!];
  if (secret === undefined) return awsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (region !== options.region || service !== options.service) {
    return awsError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region and service, not '${region}/${service}'.`);
  }
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const signedAt = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!signedAt || amzDate.slice(0, 8) !== day) return awsError(403, 'IncompleteSignatureException', 'X-Amz-Date is missing or does not match the credential scope.');
  const at = Date.UTC(+signedAt[1]!, +signedAt[2]! - 1, +signedAt[3]!, +signedAt[4]!, +signedAt[5]!, +signedAt[6]!);
  if (Math.abs((options.now ?? new Date()).getTime() - at) > 15 * 60_000) return awsError(403, 'InvalidSignatureException', 'Signature expired.');
  const signedHeaders = signedHeaderList!.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return awsError(403, 'IncompleteSignatureException', 'host and x-amz-date must be signed.');
  const payloadHash = sha256(request.body);
  const declared = request.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== payloadHash) return awsError(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  const query = [...request.query.entries()].map(([k, v]) => [encode(k), encode(v)]).sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1));
  const canonical = [
    request.method,
    // Our paths have no characters that SigV4's double encoding of the path would change.
    request.path,
    query.map(([k, v]) => `${k}=${v}`).join('&'),
    signedHeaders.map((name) => `${name}:${String(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join(''),
    signedHeaderList,
    payloadHash,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day!), region!), service!), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature!, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return awsError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  }
  return null;
}

export async function startSesFake(options: SesFakeOptions) {
  const sent: SentRawEmail[] = [];
  const state = { throttle: false, unavailable: false, sendCalls: 0, counter: 0 };
  const server = await startFakeHttp(
    (request) => {
      const refused = verifySigV4(request, { region: options.region, service: 'ses', credentials: options.credentials });
      if (refused) return refused;
      if (request.method === 'GET' && request.path === '/v2/email/account') {
        return { status: 200, body: { DedicatedIpAutoWarmupEnabled: false, EnforcementStatus: 'HEALTHY', ProductionAccessEnabled: true, SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: sent.length }, SendingEnabled: true } };
      }
      if (request.method !== 'POST' || request.path !== '/v2/email/outbound-emails') return awsError(404, 'NotFoundException', `no route ${request.method} ${request.path}`);
      state.sendCalls++;
      if (state.unavailable) return awsError(503, 'ServiceUnavailable', 'Service is unavailable.');
      if (state.throttle || (options.throttleAfter !== undefined && sent.length >= options.throttleAfter)) return awsError(429, 'TooManyRequestsException', 'Maximum sending rate exceeded.');
      const body = JSON.parse(request.body.toString('utf8')) as { Content?: { Raw?: { Data?: string } }; Destination?: { ToAddresses?: string[] }; EmailTags?: Array<{ Name: string; Value: string }> };
      const data = body.Content?.Raw?.Data;
      if (!data) return awsError(400, 'BadRequestException', 'Content must contain Simple, Raw or Template.');
      const to = body.Destination?.ToAddresses ?? [];
      const refusedTo = to.find((address) => options.rejected?.has(address));
      if (refusedTo) return awsError(400, 'MessageRejected', `Email address is not verified. The following identities failed the check in region ${options.region.toUpperCase()}: ${refusedTo}`);
      const id = `0100019${(++state.counter).toString(16).padStart(9, '0')}-5f1a2b3c-0000-4000-8000-000000000000-000000`;
      sent.push({ id, raw: Buffer.from(data, 'base64'), to, tags: body.EmailTags ?? [] });
      return { status: 200, body: { MessageId: id } };
    },
    { record: options.record ?? false },
  );
  return { ...server, sent, state };
}
