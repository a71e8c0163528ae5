// The real `graphql-ws` client follows a party's stream on a live `watchparty serve`.
// Usage: node party_stream.mjs http://127.0.0.1:PORT
// Registers a host and a guest, creates a PUBLIC party, subscribes to partyEvents as the host,
// then (once the snapshot is in) the guest joins and the host seeks. Prints one JSON object.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.argv[2];
if (!base) throw new Error('usage: node party_stream.mjs <base url>');
const httpUrl = `${base}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws');

async function gql(query, variables, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(httpUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(`request failed: ${JSON.stringify(body)}`);
  const [result] = Object.values(body.data);
  if (result && 'code' in result) throw new Error(`user error: ${JSON.stringify(result)}`);
  return result;
}

async function register(displayName) {
  const email = `ps-${Date.now()}-${Math.random().toString(16).slice(2, 8)}@example.com`;
  const payload = await gql(
    `mutation Register($input: RegisterInput!) { register(input: $input) {
      ... on AuthPayload { accessToken user { id } } ... on UserError { code message } } }`,
    { input: { email, password: 'correct horse battery', displayName } },
  );
  return { token: payload.accessToken, id: payload.user.id };
}

const host = await register('JS Host');
const guest = await register('JS Guest');
const created = await gql(
  `mutation Create($input: CreatePartyInput!) { createParty(input: $input) {
    ... on PartyPayload { party { id } } ... on UserError { code message } } }`,
  { input: { title: 'JS party', visibility: 'PUBLIC', media: { url: 'https://example.com/v.mp4', durationSeconds: 300 } } },
  host.token,
);
const partyId = created.party.id;

const SUBSCRIPTION = `subscription PartyEvents($partyId: ID!, $after: String) {
  partyEvents(partyId: $partyId, after: $after) {
    cursor resync
    event {
      __typename
      ... on PartySnapshot { party { id title } }
      ... on MemberJoined { member { user { id } role } }
      ... on PlaybackChanged { playback { state positionSeconds revision } }
      ... on PresenceChanged { cameOnline wentOffline onlineCount countsOnly }
    }
  }
}`;

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${host.token}` },
  retryAttempts: 0,
});

const items = [];
let error = null;
await new Promise((resolve) => {
  let acted = false;
  const timer = setTimeout(() => { error = { message: 'timed out' }; unsubscribe(); resolve(); }, 20000);
  const unsubscribe = client.subscribe(
    { query: SUBSCRIPTION, variables: { partyId } },
    {
      next: async (value) => {
        const item = value.data?.partyEvents;
        items.push(value.errors ? { errors: value.errors } : item);
        if (item?.event.__typename === 'PartySnapshot' && !acted) {
          acted = true;
          await gql(
            `mutation Join($input: JoinPartyInput!) { joinParty(input: $input) { __typename ... on UserError { code message } } }`,
            { input: { partyId } },
            guest.token,
          );
          await gql(
            `mutation Seek($input: SeekInput!) { seek(input: $input) { __typename ... on UserError { code message } } }`,
            { input: { partyId, positionSeconds: 42 } },
            host.token,
          );
        }
        if (item?.event.__typename === 'PlaybackChanged') {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        }
      },
      error: (e) => { error = { message: String(e?.message ?? JSON.stringify(e)) }; clearTimeout(timer); resolve(); },
      complete: () => { clearTimeout(timer); resolve(); },
    },
  );
});
await client.dispose();

console.log(JSON.stringify({ partyId, hostId: host.id, guestId: guest.id, items, error }));
