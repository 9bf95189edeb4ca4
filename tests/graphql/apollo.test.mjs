// Apollo Client, with its automatic-persisted-queries link, reading incidents through the
// gateway (run by run.sh against the built binary's demo: GATEWAY=http://127.0.0.1:PORT).
// The tests run in order and share what the gateway has learned.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const GATEWAY = process.env.GATEWAY;
assert.ok(GATEWAY, "GATEWAY must name the gateway's base URL");
const APP = "blog";
const builtin = (name) => gql(readFileSync(new URL(`../../src/graphql/builtin/${name}.graphql`, import.meta.url), "utf8"));
const EXCEPTIONS = builtin("ExceptionIncidents");
const INCIDENT = builtin("Incident");
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

// Every exchange the client makes, so the handshake itself can be asserted on.
const exchanges = [];
async function recordingFetch(url, init = {}) {
  const response = await fetch(url, init);
  const text = await response.clone().text();
  const sent = init.body ? JSON.parse(init.body) : Object.fromEntries(new URL(url).searchParams);
  exchanges.push({ method: init.method || "GET", url: String(url), sent, status: response.status, text });
  return response;
}

function client({ get = false } = {}) {
  const persisted = new PersistedQueryLink({ sha256, useGETForHashedQueries: get });
  const http = new HttpLink({ uri: `${GATEWAY}/graphql`, fetch: recordingFetch });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

function since(mark) {
  return exchanges.slice(mark);
}

const hasQuery = (sent) => typeof sent.query === "string" && sent.query.length > 0;
const hashOf = (sent) => {
  const ext = typeof sent.extensions === "string" ? JSON.parse(sent.extensions) : sent.extensions;
  return ext && ext.persistedQuery && ext.persistedQuery.sha256Hash;
};

let firstNumber;

test("the first request sends only the hash, is told PERSISTED_QUERY_NOT_FOUND, and retries with the text", async () => {
  const mark = exchanges.length;
  const { data } = await client().query({ query: EXCEPTIONS, variables: { appId: APP, state: "OPEN", limit: 5 } });
  const page = data.app.paginatedExceptionIncidents;
  assert.ok(page.rows.length > 0 && page.rows.length <= 5, `rows: ${page.rows.length}`);
  assert.ok(page.total >= page.rows.length);
  for (const row of page.rows) {
    assert.equal(row.state, "OPEN");
    assert.equal(row.__typename, "ExceptionIncident");
    assert.equal(typeof row.number, "number");
    assert.equal(typeof row.exceptionName, "string");
  }
  firstNumber = page.rows[0].number;
  const [ask, retry, ...rest] = since(mark);
  assert.equal(rest.length, 0, "two exchanges");
  assert.equal(ask.method, "POST");
  assert.ok(!hasQuery(ask.sent) && hashOf(ask.sent), "hash alone first");
  assert.equal(ask.status, 200);
  assert.equal(JSON.parse(ask.text).errors[0].extensions.code, "PERSISTED_QUERY_NOT_FOUND");
  assert.ok(hasQuery(retry.sent), "then the text");
  assert.equal(hashOf(retry.sent), sha256(retry.sent.query), "with its true hash");
  assert.equal(retry.status, 200, retry.text);
});

test("later queries by hash alone succeed, from a client with an empty cache", async () => {
  const mark = exchanges.length;
  const { data } = await client().query({ query: EXCEPTIONS, variables: { appId: APP, state: "OPEN", limit: 2 } });
  assert.ok(data.app.paginatedExceptionIncidents.rows.length <= 2);
  const [only, ...rest] = since(mark);
  assert.equal(rest.length, 0, "one exchange");
  assert.ok(!hasQuery(only.sent) && hashOf(only.sent));
  assert.equal(only.status, 200, only.text);
});

test("useGETForHashedQueries: a GET by hash, the text over POST once, then GETs alone", async () => {
  const mark = exchanges.length;
  const get = client({ get: true });
  const { data } = await get.query({ query: INCIDENT, variables: { appId: APP, incidentNumber: firstNumber } });
  assert.equal(data.app.incident.__typename, "ExceptionIncident");
  assert.equal(data.app.incident.number, firstNumber);
  const [ask, retry] = since(mark);
  assert.equal(ask.method, "GET");
  assert.equal(JSON.parse(ask.text).errors[0].extensions.code, "PERSISTED_QUERY_NOT_FOUND");
  assert.equal(retry.method, "POST");
  assert.equal(retry.status, 200, retry.text);

  const again = exchanges.length;
  const fresh = client({ get: true });
  const second = await fresh.query({ query: INCIDENT, variables: { appId: APP, incidentNumber: firstNumber } });
  assert.deepEqual(second.data, data);
  const [only, ...rest] = since(again);
  assert.equal(rest.length, 0, "one exchange");
  assert.equal(only.method, "GET");
  assert.equal(only.status, 200, only.text);
  assert.ok(!only.url.includes("query="), "the hash alone in the URL");
});

test("a free document is refused 403 operation_not_allowed, over POST and GET", async () => {
  const hostile = [
    gql`query Steal { viewer { token } }`,
    gql`query Walk($appId: String!) { app(id: $appId) { organization { apps { id name } } } }`,
    gql`query ExceptionIncidents($appId: String!) { app(id: $appId) { name } }`,
  ];
  for (const get of [false, true]) {
    for (const query of hostile) {
      const mark = exchanges.length;
      await assert.rejects(client({ get }).query({ query, variables: { appId: APP } }));
      const last = since(mark).at(-1);
      assert.ok(hasQuery(last.sent), "refused once the text is seen");
      assert.equal(last.status, 403, last.text);
      assert.equal(JSON.parse(last.text).errors[0].extensions.code, "operation_not_allowed");
    }
  }
  const mutation = JSON.stringify({ query: 'mutation Drop { deleteApp(appId: "blog") { id } }' });
  const response = await fetch(`${GATEWAY}/graphql`, {
    method: "POST", headers: { "content-type": "application/json" }, body: mutation,
  });
  assert.equal(response.status, 403);
});

test("an app outside the allowlist is a 404, even for a declared operation", async () => {
  const mark = exchanges.length;
  await assert.rejects(client().query({ query: EXCEPTIONS, variables: { appId: "someone-elses-app" } }));
  assert.equal(since(mark).at(-1).status, 404, since(mark).at(-1).text);
});
