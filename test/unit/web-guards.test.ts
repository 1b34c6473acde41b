/**
 * The web UI's request guards and limits as pure pieces: Host names the
 * device answers to, cross-site request checks, the sign-in rate limit,
 * bounded places for streams and uploads, the route table, cookies with bad
 * encoding, and the pixel limit of decoded images.
 */
import { EventEmitter } from 'node:events';
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { MAX_INPUT_PIXELS, pixelLimitProblem, readImage } from '../../product/image-io.ts';
import { parseCookies, SESSION_COOKIE, WebAuth } from '../../runtime/web/auth.ts';
import { LoginLimiter } from '../../runtime/web/login-limiter.ts';
import { decodeParam } from '../../runtime/web/params.ts';
import { allowedHostNames, contentTypeProblem, crossSiteProblem, hostName, hostProblem, originProblem, type CrossSiteRequest } from '../../runtime/web/request-guard.ts';
import { matchRoute, pathSegments, type Route } from '../../runtime/web/router.ts';
import { Slots } from '../../runtime/web/slots.ts';
import { ChangeFeed } from '../../runtime/web/sse.ts';

t.test('Host header names', async (t) => {
  t.equal(hostName('Device.Example:8080'), 'device.example');
  t.equal(hostName('[::1]:8080'), '::1');
  t.equal(hostName('127.0.0.1'), '127.0.0.1');
  t.equal(hostName('cam.local.'), 'cam.local', 'a trailing dot is the same name');
  t.equal(hostName('evil.example/path'), undefined);
  t.equal(hostName(undefined), undefined);
});

t.test('bound to loopback, only loopback names are served', async (t) => {
  const allowed = allowedHostNames({ bindHost: '127.0.0.1', machineName: 'line7-cam', interfaceAddresses: ['10.0.0.5'] });
  t.equal(hostProblem('127.0.0.1:8080', allowed), undefined);
  t.equal(hostProblem('localhost:8080', allowed), undefined);
  t.equal(hostProblem('[::1]:8080', allowed), undefined);
  t.match(hostProblem('evil.example:8080', allowed), /not served as "evil\.example"/, 'a rebinding name');
  t.match(hostProblem('line7-cam:8080', allowed), /not served/, 'not reachable from elsewhere, so not served as the machine name');
  t.match(hostProblem(undefined, allowed), /no Host header/);
});

t.test('bound elsewhere: the bind address, the machine name, interface addresses on 0.0.0.0, and configured names', async (t) => {
  const onOne = allowedHostNames({ bindHost: '10.0.0.5', machineName: 'line7-cam', interfaceAddresses: ['10.0.0.5', '192.168.1.9'] });
  t.equal(hostProblem('10.0.0.5:8080', onOne), undefined);
  t.equal(hostProblem('line7-cam:8080', onOne), undefined);
  t.equal(hostProblem('line7-cam.local', onOne), undefined);
  t.match(hostProblem('192.168.1.9:8080', onOne), /not served/, 'not bound there');
  const onAll = allowedHostNames({ bindHost: '0.0.0.0', machineName: 'line7-cam', interfaceAddresses: ['10.0.0.5', 'fe80::1%eth0'], extra: ['cam7.plant.example', '.line.example'] });
  t.equal(hostProblem('10.0.0.5', onAll), undefined);
  t.equal(hostProblem('[fe80::1]:8080', onAll), undefined);
  t.equal(hostProblem('CAM7.plant.example:443', onAll), undefined);
  t.equal(hostProblem('a.line.example', onAll), undefined, 'a configured domain allows its subdomains');
  t.match(hostProblem('evil.example', onAll), /http\.allowedHosts/);
  t.notOk(onAll.includes('0.0.0.0'));
});

const request = (over: Partial<CrossSiteRequest>): CrossSiteRequest => ({
  method: 'POST',
  host: '127.0.0.1:8080',
  tls: false,
  origin: 'http://127.0.0.1:8080',
  referer: undefined,
  authorization: undefined,
  contentType: 'application/json',
  hasBody: true,
  body: 'json',
  ...over,
});

t.test('state-changing requests come from the device\'s own origin', async (t) => {
  t.equal(originProblem(request({})), undefined);
  t.match(originProblem(request({ origin: 'http://evil.example' })), /requests from http:\/\/evil\.example may not change the device/);
  t.match(originProblem(request({ origin: 'null' })), /requests from null/);
  t.match(originProblem(request({ origin: 'http://127.0.0.1:8080', tls: true })), /only pages of https:\/\/127\.0\.0\.1:8080/, 'a plain-HTTP page does not count for the HTTPS device');
  t.equal(originProblem(request({ origin: 'https://127.0.0.1:8080', forwardedProto: 'https' })), undefined, 'pages behind a TLS-terminating proxy');
  t.match(originProblem(request({ origin: 'https://evil.example', forwardedProto: 'https' })), /evil/);
  t.equal(originProblem(request({ origin: undefined, referer: 'http://127.0.0.1:8080/#enroll' })), undefined, 'the Referer without an Origin');
  t.match(originProblem(request({ origin: undefined, referer: 'http://evil.example/x' })), /pages outside/);
  t.equal(originProblem(request({ origin: undefined, referer: undefined })), undefined, 'a program sends neither');
});

t.test('bodies carry the type their route reads', async (t) => {
  t.equal(contentTypeProblem('json', 'application/json; charset=utf-8', true), undefined);
  t.match(contentTypeProblem('json', 'text/plain', true), /text\/plain is not accepted.*application\/json/);
  t.match(contentTypeProblem('json', 'application/x-www-form-urlencoded', true), /not accepted/);
  t.match(contentTypeProblem('json', undefined, true), /send the body with Content-Type: application\/json/);
  t.equal(contentTypeProblem('json', undefined, false), undefined, 'an empty body may leave the type out');
  t.equal(contentTypeProblem('image', 'image/png', true), undefined);
  t.equal(contentTypeProblem('image', 'application/octet-stream', true), undefined);
  t.match(contentTypeProblem('image', 'multipart/form-data; boundary=x', true), /not accepted/, 'a form upload is not the raw image');
  t.equal(contentTypeProblem('form', 'application/x-www-form-urlencoded', true), undefined);
  t.match(contentTypeProblem('form', 'text/plain', true), /not accepted/);
  t.equal(contentTypeProblem('none', 'text/plain', true), undefined, 'a route that reads no body');
});

t.test('bearer-token programs skip the cross-site checks; cookies and basic credentials do not', async (t) => {
  t.equal(crossSiteProblem(request({ method: 'GET', origin: 'http://evil.example', contentType: 'text/plain' })), undefined, 'reads are not checked');
  t.match(crossSiteProblem(request({ origin: 'http://evil.example' })), /evil\.example/);
  t.match(crossSiteProblem(request({ origin: undefined, contentType: 'text/plain' })), /text\/plain/, 'the text/plain form trick without an Origin');
  t.equal(crossSiteProblem(request({ origin: 'http://evil.example', contentType: undefined, authorization: 'Bearer t0ken' })), undefined);
  t.match(crossSiteProblem(request({ origin: 'http://evil.example', authorization: 'Basic dGVjaDpwdw==' })), /evil\.example/, 'browsers resend basic credentials on their own');
  t.match(crossSiteProblem(request({ method: 'PUT', body: 'image', contentType: 'text/plain' })), /not accepted/);
  t.match(crossSiteProblem(request({ method: 'DELETE', origin: 'http://evil.example' })), /evil/);
});

t.test('failed sign-ins: five a minute per address, then 429 until the oldest leaves the window', async (t) => {
  let now = 1_000_000;
  const limiter = new LoginLimiter(5, 60_000, () => now);
  for (let i = 0; i < 5; i++) {
    t.equal(limiter.retryAfterSeconds('10.0.0.9'), 0, `attempt ${i + 1} may go on`);
    limiter.fail('10.0.0.9');
    now += 1000;
  }
  t.equal(limiter.retryAfterSeconds('10.0.0.9'), 55, 'the first failure leaves the window 55 s later');
  t.equal(limiter.retryAfterSeconds('10.0.0.10'), 0, 'another address is not limited');
  now += 55_000;
  t.equal(limiter.retryAfterSeconds('10.0.0.9'), 0);
  limiter.fail('10.0.0.9');
  t.equal(limiter.retryAfterSeconds('10.0.0.9'), 1, 'four older failures are still in the window');
  limiter.succeed('10.0.0.9');
  t.equal(limiter.retryAfterSeconds('10.0.0.9'), 0, 'a success clears the address');
  const small = new LoginLimiter(1, 60_000, () => now, 2);
  for (const a of ['a', 'b', 'c']) small.fail(a);
  t.equal(small.retryAfterSeconds('a'), 0, 'the address seen longest ago is forgotten first');
  t.ok(small.retryAfterSeconds('c') > 0);
});

t.test('slots: a fixed number of places, each given back once', async (t) => {
  const slots = new Slots(2);
  const a = slots.take()!;
  const b = slots.take()!;
  t.equal(slots.take(), undefined);
  a();
  a();
  t.equal(slots.inUse, 1, 'giving back twice frees one place');
  t.ok(slots.take());
  b();
});

t.test('change feed: one listener on the sources however many streams follow', async (t) => {
  const source = new EventEmitter();
  let attached = 0;
  const feed = new ChangeFeed((emit) => {
    attached++;
    source.on('change', emit);
    return () => source.off('change', emit);
  });
  const seen: number[] = [];
  const stops = Array.from({ length: 20 }, (_, i) => feed.subscribe(() => seen.push(i)));
  t.equal(source.listenerCount('change'), 1);
  source.emit('change');
  t.equal(seen.length, 20);
  for (const stop of stops) stop();
  t.equal(source.listenerCount('change'), 0, 'detached with the last stream');
  feed.subscribe(() => undefined);
  t.equal(attached, 2, 'attached again for a new stream');
});

t.test('routes: method and path pattern, parameters as sent, HEAD only for pages', async (t) => {
  const routes: Route<null>[] = [
    { method: 'GET', path: '/', access: 'page', handle: () => undefined },
    { method: 'GET', path: '/api/products/:product/versions', access: 'api', handle: () => undefined },
    { method: 'POST', path: '/api/products/:product/golden', body: 'json', access: 'api', handle: () => undefined },
  ];
  t.same(pathSegments('/api/products/'), ['api', 'products']);
  t.same(matchRoute(routes, 'GET', ['api', 'products', 'a%2Fb', 'versions'])?.params, { product: 'a%2Fb' });
  t.equal(matchRoute(routes, 'POST', ['api', 'products', 'x', 'versions']), undefined);
  t.equal(matchRoute(routes, 'POST', ['api', 'products', 'x', 'golden'])?.route.body, 'json');
  t.ok(matchRoute(routes, 'HEAD', []));
  t.equal(matchRoute(routes, 'HEAD', ['api', 'products', 'x', 'versions']), undefined);
});

t.test('bad percent-encoding: a 400 for the session cookie and path parameters; other services\' cookies kept as they are', async (t) => {
  t.same(parseCookies('other=%E0%A4%A; a=b%20c'), { other: '%E0%A4%A', a: 'b c' });
  t.throws(() => parseCookies(`${SESSION_COOKIE}=%E0%A4%A`), { status: 400, message: /not valid percent-encoding/ });
  t.throws(() => new WebAuth({ token: 'token-of-line-three' }).allows({ cookie: `${SESSION_COOKIE}=%zz` }), { status: 400, message: /sign in again/ });
  t.equal(decodeParam('part%201.png', 'file name'), 'part 1.png');
  t.throws(() => decodeParam('%E0%A4%A.png', 'file name'), { status: 400, message: /file name "%E0%A4%A\.png" is not valid percent-encoding/ });
});

t.test('the session cookie is Secure over HTTPS', async (t) => {
  const auth = new WebAuth({ token: 'token-of-line-three' });
  t.notMatch(auth.login({ token: 'token-of-line-three' })!, /Secure/);
  t.match(auth.login({ token: 'token-of-line-three' }, { secure: true })!, /; Secure$/);
  t.match(auth.logout({}, { secure: true }), /Max-Age=0; Secure/);
});

t.test('images over the pixel limit are refused before decoding', async (t) => {
  t.equal(MAX_INPUT_PIXELS, 40_000_000);
  t.equal(pixelLimitProblem(4000, 3000), undefined);
  t.match(pixelLimitProblem(12000, 12000), /12000 x 12000 = 144\.0 megapixels; linesight decodes images of up to 40 megapixels/);
  t.equal(pixelLimitProblem(10, 10, 100), undefined);
  t.ok(pixelLimitProblem(10, 11, 100));
});

t.test('readImage refuses an image over the pixel limit with the reason, before decoding it', async (t) => {
  const path = join(t.testdir(), 'huge.png');
  await writeFile(path, await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#000' } }).png().toBuffer());
  await t.rejects(readImage(path, { width: 64, height: 64 }), { name: 'ImageReadError', message: /huge\.png: not a readable image \(the image is 12000 x 12000 = 144\.0 megapixels; linesight decodes images of up to 40 megapixels\)/ });
});
