//! The two text formats `/metrics` speaks, chosen by the scraper's `Accept`.
//!
//! prometheus-client encodes only OpenMetrics 1.0. Prometheus asks for it (its `Accept`
//! lists `application/openmetrics-text` first) and gets it as is. Everyone else (curl,
//! older scrapers, `promtool check metrics`) gets the Prometheus text format 0.0.4, which
//! differs in four ways this module rewrites: no `info` type (the family becomes the
//! gauge `…_info`, valued 1, the usual convention), a counter's `TYPE` names its sample
//! (`…_total`), no `UNIT` lines, and no `# EOF`. The samples themselves are the same
//! lines in both, so the rewrite touches only comments.

use http::HeaderValue;

/// OpenMetrics' media type, as served.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's media type, as served.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which exposition a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for a scraper that accepts it.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everyone else.
    PrometheusText,
}

impl Format {
    /// OpenMetrics when `accept` lists `application/openmetrics-text` with a weight
    /// above zero; the Prometheus text format otherwise (no header, `*/*`, `text/plain`).
    pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
        let accept = accept.and_then(|v| v.to_str().ok()).unwrap_or("");
        let wanted = accept.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse() == Ok(0.0)));
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        match wanted {
            true => Format::OpenMetrics,
            false => Format::PrometheusText,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// Rewrites an OpenMetrics exposition (as prometheus-client writes it: `HELP`, then
/// `TYPE`, then optionally `UNIT`, then the samples, for each family) as Prometheus text.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A family's HELP comes before its TYPE, which decides the name it must carry.
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = family(name, kind);
            if let Some(text) = help.take().and_then(|h| h.split_once(' ')).map(|(_, text)| text) {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
        // `# UNIT` and `# EOF` have no counterpart in the Prometheus text format.
    }
    out
}

/// A family's name and type in the Prometheus text format, from OpenMetrics'.
fn family(name: &str, kind: &str) -> (String, &'static str) {
    match kind {
        "counter" => (format!("{name}_total"), "counter"),
        "info" => (format!("{name}_info"), "gauge"),
        "gauge" => (name.to_owned(), "gauge"),
        "histogram" => (name.to_owned(), "histogram"),
        "summary" => (name.to_owned(), "summary"),
        // `unknown`, and the OpenMetrics types 0.0.4 lacks (stateset, gaugehistogram).
        _ => (name.to_owned(), "untyped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics_and_others_get_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
                          application/openmetrics-text;version=0.0.1;q=0.4,\
                          text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let cases = [
            (Some(prometheus), Format::OpenMetrics),
            (Some("application/OpenMetrics-Text"), Format::OpenMetrics),
            (None, Format::PrometheusText),
            (Some("*/*"), Format::PrometheusText),
            (Some("text/plain;version=0.0.4"), Format::PrometheusText),
            (Some("application/openmetrics-text;q=0, text/plain"), Format::PrometheusText),
        ];
        for (accept, format) in cases {
            let header = accept.map(|a| HeaderValue::from_str(a).unwrap());
            assert_eq!(Format::negotiate(header.as_ref()), format, "{accept:?}");
        }
    }

    #[test]
    fn each_openmetrics_construct_is_rewritten() {
        let openmetrics = "# HELP gw_requests Requests answered.\n# TYPE gw_requests counter\n\
             gw_requests_total{route=\"samples\"} 2\n\
             # HELP gw_build Build information.\n# TYPE gw_build info\ngw_build_info{version=\"0.1.0\"} 1\n\
             # HELP gw_took Latency.\n# TYPE gw_took histogram\n# UNIT gw_took seconds\n\
             gw_took_sum 0.5\ngw_took_count 1\ngw_took_bucket{le=\"+Inf\"} 1\n\
             # HELP gw_entries Entries.\n# TYPE gw_entries gauge\ngw_entries 3\n# EOF\n";
        let expected = "# HELP gw_requests_total Requests answered.\n# TYPE gw_requests_total counter\n\
             gw_requests_total{route=\"samples\"} 2\n\
             # HELP gw_build_info Build information.\n# TYPE gw_build_info gauge\ngw_build_info{version=\"0.1.0\"} 1\n\
             # HELP gw_took Latency.\n# TYPE gw_took histogram\n\
             gw_took_sum 0.5\ngw_took_count 1\ngw_took_bucket{le=\"+Inf\"} 1\n\
             # HELP gw_entries Entries.\n# TYPE gw_entries gauge\ngw_entries 3\n";
        assert_eq!(to_prometheus_text(openmetrics), expected);
    }
}
