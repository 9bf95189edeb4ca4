// A dashboard snippet typed by the client generated from the gateway's own description
// (openapi-typescript): if the document stops describing these routes or parameters,
// this stops compiling. Type-checked by tests/api/run.sh; never run.
import type { paths } from "./gateway";

type ErrorsQuery = NonNullable<paths["/api/{app}/samples/errors.json"]["get"]["parameters"]["query"]>;
type ErrorsList = paths["/api/{app}/samples/errors.json"]["get"]["responses"][200]["content"]["application/json"];
type GraphsQuery = NonNullable<paths["/api/{app}/graphs.json"]["get"]["parameters"]["query"]>;
type ApiError = paths["/api/{app}/graphs.json"]["get"]["responses"][400]["content"]["application/json"];

const base = "http://127.0.0.1:8080";

export async function recentErrors(app: string): Promise<ErrorsList> {
  const query: ErrorsQuery = { limit: 20, since: "2023-11-14T22:13:20Z" };
  const search = new URLSearchParams({ limit: String(query.limit), since: String(query.since) });
  const res = await fetch(`${base}/api/${encodeURIComponent(app)}/samples/errors.json?${search}`);
  if (!res.ok) {
    const body = (await res.json()) as ApiError;
    throw new Error(`${body.error.code}: ${body.error.message}`);
  }
  return (await res.json()) as ErrorsList;
}

export function dayOfMeans(): GraphsQuery {
  // `timeframe` and `fields[]` are enums in the document: a typo here fails to compile.
  return { kind: "web", timeframe: "day", "fields[]": ["mean", "pct"] };
}

export function count(list: ErrorsList): number {
  return list.count ?? list.log_entries?.length ?? 0;
}

// A V2 query: the body is typed from the route's requestBody schema, so a missing
// `select`, a misspelt field or a wrong type here fails to compile.
type TimeseriesQuery = paths["/api/v2/metrics/timeseries"]["post"]["requestBody"]["content"]["application/json"];
type QueryError = paths["/api/v2/metrics/timeseries"]["post"]["responses"][400]["content"]["application/json"];

export function lastHour(app: string, now: Date): TimeseriesQuery {
  const to = Math.floor(now.getTime() / 1000);
  return {
    site_id: app,
    from: to - 3600,
    to,
    select: [
      { name: "transaction_duration", tags: { namespace: "web" }, field: "MEAN" },
      { name: "transaction_duration", tags: { namespace: "web" }, field: "P95" },
    ],
  };
}

export async function durationChart(app: string): Promise<{ data: unknown; cacheStatus: string | null }> {
  const res = await fetch(`${base}/api/v2/metrics/timeseries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(lastHour(app, new Date())),
  });
  if (!res.ok) {
    const body = (await res.json()) as QueryError;
    throw new Error(`${body.error.code}: ${body.error.message}`);
  }
  return { data: await res.json(), cacheStatus: res.headers.get("cache-status") };
}
