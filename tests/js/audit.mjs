// The graphql-http audit suite (GraphQL over HTTP spec) against a live `watchparty serve`.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Prints JSON: counts per requirement level and status, and every audit that is not ok.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) throw new Error('usage: node audit.mjs <graphql url>');

const results = await auditServer({ url });
const counts = {};
const notOk = [];
for (const result of results) {
  const level = result.name.split(' ')[0]; // MUST | SHOULD | MAY
  counts[level] ??= { ok: 0, warn: 0, error: 0, notice: 0, total: 0 };
  counts[level][result.status] = (counts[level][result.status] ?? 0) + 1;
  counts[level].total += 1;
  if (result.status !== 'ok') {
    notOk.push({ level, name: result.name, status: result.status, reason: result.reason ?? null });
  }
}
console.log(JSON.stringify({ total: results.length, counts, notOk }));
