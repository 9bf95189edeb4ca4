use std::time::Duration;

use super::*;
use crate::route::{App, Apps};

fn apps() -> Apps {
    Apps::new(vec![
        App { id: "app1".into(), name: Some("blog".into()) },
        App { id: "app2".into(), name: None },
    ])
}

fn run(kind: BodyKind, body: &str) -> Result<String, V2Error> {
    let apps = apps();
    let cx = Cx { apps: &apps, max_range: Duration::from_secs(31 * 86400), align: None };
    canonical(kind, body.as_bytes(), &cx).map(|(b, _)| String::from_utf8(b.to_vec()).unwrap())
}

fn field(kind: BodyKind, body: &str) -> String {
    match run(kind, body) {
        Err(V2Error::Field(e)) => e.name,
        other => panic!("{body}: {other:?}"),
    }
}

const TS: &str = r#"{"site_id":"blog","from":"2026-06-22T02:00:00+02:00","to":1782093600,
    "select":[{"tags":{"b":"2","a":"1"},"name":"transaction_duration","field":"mean"}]}"#;

#[test]
fn the_canonical_body_is_written_by_the_gateway() {
    let out = run(BodyKind::Timeseries, TS).unwrap();
    assert_eq!(
        out,
        r#"{"site_id":"app1","from":"2026-06-22T00:00:00Z","to":"2026-06-22T02:00:00Z","select":[{"name":"transaction_duration","tags":{"a":"1","b":"2"},"field":"mean"}]}"#
    );
    assert_eq!(run(BodyKind::Timeseries, &out).unwrap(), out, "canonical is a fixed point");
}

#[test]
fn every_refused_value_is_named_by_its_path() {
    let ts = |select: &str| format!(r#"{{"site_id":"blog","from":1,"to":2,"select":[{select}]}}"#);
    let ok = r#"{"name":"n","tags":{},"field":"mean"}"#;
    assert_eq!(
        field(BodyKind::Timeseries, &ts(r#"{"name":"n","tags":{},"field":"mean","colour":1}"#)),
        "select[0].colour"
    );
    assert_eq!(
        field(BodyKind::Timeseries, &ts(&format!(r#"{ok},{{"name":"n","tags":{{}}}}"#))),
        "select[1].field"
    );
    assert_eq!(
        field(BodyKind::Timeseries, &ts(r#"{"name":"n","tags":{},"field":"mean!"}"#)),
        "select[0].field"
    );
    assert_eq!(
        field(BodyKind::Timeseries, &ts(r#"{"name":"n","tags":{"a":"1","a":"2"},"field":"x"}"#)),
        "select[0].tags"
    );
    assert_eq!(
        field(BodyKind::Timeseries, &ts(r#"{"name":"a\u0001","tags":{},"field":"x"}"#)),
        "select[0].name"
    );
    assert_eq!(field(BodyKind::Timeseries, &ts(&vec![ok; 33].join(","))), "select");
    assert_eq!(
        field(BodyKind::Timeseries, r#"{"site_id":"blog","site_id":"blog","from":1,"to":2,"select":[]}"#),
        "site_id"
    );
    assert_eq!(
        field(
            BodyKind::Timeseries,
            r#"{"site_id":"blog","from":3,"to":2,"select":[{"name":"n","tags":{},"field":"x"}]}"#
        ),
        "from"
    );
    assert_eq!(
        field(
            BodyKind::Timeseries,
            r#"{"site_id":"blog","from":1,"to":99999999,"select":[{"name":"n","tags":{},"field":"x"}]}"#
        ),
        "from"
    );
    let logs = |pagination: &str| {
        format!(r#"{{"site_id":"blog","source_ids":["s"],"query":"","pagination":{pagination}}}"#)
    };
    assert_eq!(field(BodyKind::LogLines, &logs(r#"{"per_page":101,"order":"ASC"}"#)), "pagination.per_page");
    assert_eq!(field(BodyKind::LogLines, &logs(r#"{"per_page":1.5,"order":"ASC"}"#)), "pagination.per_page");
    assert!(matches!(
        run(BodyKind::LogLines, &logs(r#"{"per_page":1e400,"order":"ASC"}"#)),
        Err(V2Error::Malformed(_))
    ));
    assert_eq!(field(BodyKind::LogLines, &logs(r#"{"per_page":10,"order":"asc"}"#)), "pagination.order");
    assert_eq!(
        field(BodyKind::LogLines, &logs(r#"{"per_page":10,"order":"ASC","cursor":{"time":"x"}}"#)),
        "pagination.cursor.time"
    );
    assert_eq!(field(BodyKind::Traces, r#"{"site_ids":[]}"#), "site_ids");
}

#[test]
fn hostile_bodies_are_clean_refusals() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let wide = format!(r#"{{"site_ids":[{}"x"]}}"#, "\"x\",".repeat(100_000));
    let nested = format!(r#"{{"site_id":{}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    for body in [deep.as_str(), &wide, &nested, "{", "", "[]", "{\"a\":1} x", "{\"site_id\":\"\u{0}\"}"] {
        assert!(run(BodyKind::Traces, body).is_err(), "{}", &body[..body.len().min(40)]);
    }
    let bytes = b"{\"site_id\":\"\xff\xfe\"}";
    let apps = apps();
    let cx = Cx { apps: &apps, max_range: Duration::from_secs(1), align: None };
    assert!(matches!(canonical(BodyKind::DeployStats, bytes, &cx), Err(V2Error::Malformed(_))));
    match run(BodyKind::Traces, "{\n  \"site_ids\": [,]}") {
        Err(V2Error::Malformed(m)) => assert!(m.contains("line 2 column"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scope_and_sites() {
    assert_eq!(
        run(BodyKind::OneTrace, r#"{"site_ids":["app2","blog","app1"],"trace_id":"t"}"#).unwrap(),
        r#"{"site_ids":["app1","app2"],"trace_id":"t"}"#
    );
    assert_eq!(
        run(BodyKind::OneTrace, r#"{"site_ids":["blog","nope"],"trace_id":"t"}"#),
        Err(V2Error::NotFound)
    );
    // Every app named is returned, for the caller to check against a key's scope.
    let apps = apps();
    let cx = Cx { apps: &apps, max_range: Duration::from_secs(1), align: None };
    let body = br#"{"site_ids":["app2","blog","app2"],"trace_id":"t"}"#;
    let (_, named) = canonical(BodyKind::OneTrace, body, &cx).unwrap();
    assert_eq!(named.len(), 2, "{named:?}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// One time, spelled as Unix seconds, RFC 3339 `Z`, or RFC 3339 with an offset.
    fn spell(secs: i64, how: u8) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        match how % 3 {
            0 => secs.to_string(),
            1 => format!("\"{}\"", t.format(&time::format_description::well_known::Rfc3339).unwrap()),
            _ => {
                let offset = time::UtcOffset::from_hms(2, 30, 0).unwrap();
                format!(
                    "\"{}\"",
                    t.to_offset(offset).format(&time::format_description::well_known::Rfc3339).unwrap()
                )
            }
        }
    }

    fn body(order: &[usize], ws: &str, site: &str, from: String, to: String) -> String {
        let select = format!(r#"[{ws}{{"field":"mean",{ws}"tags":{{"b":"2","a":"1"}},"name":"m"}}]"#);
        let fields = [
            format!(r#""site_id":{ws}"{site}""#),
            format!(r#""from":{ws}{from}"#),
            format!(r#""to":{ws}{to}"#),
            format!(r#""select":{ws}{select}"#),
            format!(r#""resolution":{ws}"MINUTELY""#),
        ];
        let parts: Vec<&str> = order.iter().map(|&i| fields[i].as_str()).collect();
        format!("{ws}{{{ws}{}{ws}}}{ws}", parts.join(&format!(",{ws}")))
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_question_is_one_canonical_body(
            order in Just(vec![0usize, 1, 2, 3, 4]).prop_shuffle(),
            ws in prop::sample::select(vec!["", " ", "\n\t", "  \r\n"]),
            alias in any::<bool>(),
            from_how in any::<u8>(),
            to_how in any::<u8>(),
            from in 0i64..2_000_000_000,
            len in 0i64..86_400,
        ) {
            let reference = run(BodyKind::Timeseries, &body(&[0, 1, 2, 3, 4], "", "app1", from.to_string(), (from + len).to_string())).unwrap();
            let site = if alias { "blog" } else { "app1" };
            let spelled = body(&order, ws, site, spell(from, from_how), spell(from + len, to_how));
            let canonical = run(BodyKind::Timeseries, &spelled).unwrap();
            prop_assert_eq!(&canonical, &reference);
            prop_assert_eq!(run(BodyKind::Timeseries, &canonical).unwrap(), canonical, "a fixed point");
        }
    }
}
