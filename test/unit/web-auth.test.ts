import t from 'tap';
import { basicCredentials, bearerToken, parseCookies, sameSecret, SESSION_COOKIE, WebAuth } from '../../runtime/web/auth.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('credentials are read from the Authorization header and cookies', async (t) => {
  t.equal(bearerToken('Bearer abc.def'), 'abc.def');
  t.equal(bearerToken('bearer  xyz '), 'xyz');
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken(undefined), undefined);
  t.same(basicCredentials(basic('tech', 'pa:ss')), { username: 'tech', password: 'pa:ss' });
  t.equal(basicCredentials(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
  t.same(parseCookies('a=1; linesight_session=ab%20c;b'), { a: '1', linesight_session: 'ab c' });
  t.ok(sameSecret('s3cret', 's3cret'));
  t.notOk(sameSecret('s3cret', 's3cret2'));
  t.notOk(sameSecret(undefined, 's3cret'));
});

t.test('without http.auth everything is open', async (t) => {
  const auth = new WebAuth(undefined);
  t.notOk(auth.required);
  t.ok(auth.allows({}));
  t.equal(auth.login({ token: 'anything' }), undefined, 'there is nothing to log in to');
});

t.test('a token: bearer header or a session from the login form', async (t) => {
  const auth = new WebAuth({ token: 'token-of-line-three' });
  t.ok(auth.required);
  t.notOk(auth.allows({}));
  t.ok(auth.allows({ authorization: 'Bearer token-of-line-three' }));
  t.notOk(auth.allows({ authorization: 'Bearer token-of-line-four' }));
  t.notOk(auth.allows({ cookie: `${SESSION_COOKIE}=made-up` }));
  t.equal(auth.login({ token: 'wrong' }), undefined);
  const cookie = auth.login({ token: 'token-of-line-three' })!;
  t.match(cookie, /HttpOnly; SameSite=Strict/);
  const header = cookie.split(';')[0]!;
  t.ok(auth.allows({ cookie: header }), 'the session cookie lets the browser in');
  t.match(auth.logout({ cookie: header }), /Max-Age=0/);
  t.notOk(auth.allows({ cookie: header }), 'logged out');
});

t.test('a user name and password: basic auth or the login form', async (t) => {
  const auth = new WebAuth({ username: 'tech', password: 'line3-secret' });
  t.ok(auth.allows({ authorization: basic('tech', 'line3-secret') }));
  t.notOk(auth.allows({ authorization: basic('tech', 'line3-secre') }));
  t.notOk(auth.allows({ authorization: basic('admin', 'line3-secret') }));
  t.ok(auth.login({ username: 'tech', password: 'line3-secret' }));
  t.notOk(auth.login({ username: 'tech' }));
});
