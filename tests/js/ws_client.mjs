// The real `graphql-ws` client (with `ws` as its WebSocket) against a live `watchparty serve`.
// Usage: node ws_client.mjs http://127.0.0.1:PORT
// Prints one JSON object on stdout; tests/test_js_clients.py asserts on it.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.argv[2];
if (!base) throw new Error('usage: node ws_client.mjs <base url>');
const httpUrl = `${base}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws');

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on AuthPayload { accessToken user { id email } }
    ... on UserError { code message field }
  }
}`;
const ME = 'query Me { me { id email displayName } }';

async function register() {
  const email = `ws-${Date.now()}-${Math.random().toString(16).slice(2, 8)}@example.com`;
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({
      query: REGISTER,
      variables: { input: { email, password: 'correct horse battery', displayName: 'WS Client' } },
    }),
  });
  const body = await response.json();
  const payload = body.data?.register;
  if (payload?.__typename !== 'AuthPayload') throw new Error(`register failed: ${JSON.stringify(body)}`);
  return { email, token: payload.accessToken, userId: payload.user.id };
}

/** Run one operation to completion on a client; resolves with the results or the error. */
function run(client, query) {
  return new Promise((resolve) => {
    const results = [];
    client.subscribe(
      { query },
      {
        next: (value) => results.push(value),
        error: (error) => resolve({ results, error }),
        complete: () => resolve({ results, error: null }),
      },
    );
  });
}

function describe(error) {
  if (error === null) return null;
  // A CloseEvent-like object when the server closed the socket.
  if (typeof error === 'object' && 'code' in error) return { closeCode: error.code, reason: error.reason };
  if (Array.isArray(error)) return { graphqlErrors: error.map((e) => e.message) };
  return { message: String(error?.message ?? error) };
}

function makeClient(connectionParams) {
  const closes = [];
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0, // surface the close code instead of silently retrying
    lazy: true,
    on: { closed: (event) => closes.push(event?.code) },
  });
  return { client, closes };
}

const user = await register();

const signedIn = makeClient({ authorization: `Bearer ${user.token}` });
const me = await run(signedIn.client, ME);
await signedIn.client.dispose();

const anonymous = makeClient({});
const anonymousMe = await run(anonymous.client, ME);
await anonymous.client.dispose();

const badToken = makeClient({ authorization: 'Bearer not-a-real-token' });
const rejected = await run(badToken.client, ME);
await badToken.client.dispose();

console.log(
  JSON.stringify({
    userId: user.userId,
    email: user.email,
    me: { results: me.results, error: describe(me.error) },
    anonymousMe: { results: anonymousMe.results, error: describe(anonymousMe.error) },
    badToken: { results: rejected.results, error: describe(rejected.error), closes: badToken.closes },
  }),
);
