//! Property tests of routing and normalisation. `PROPTEST_CASES` raises the case count
//! for a long campaign; CI runs the default.

use appsignal_gateway::route::{match_path, target, QueryOptions, Target};
use appsignal_gateway::route::{App, Apps};
use proptest::prelude::*;

const OPTS: QueryOptions<'static> = QueryOptions { callback_param: "callback", jsonp: true };
const ID: &str = "5114f7e38c5ce90000000011";

fn apps() -> Apps {
    Apps::new(vec![App { id: ID.into(), name: Some("blog".into()) }])
}

fn resolve(path: &str, query: &str) -> Option<Target> {
    target(match_path(path, &apps())?, Some(query), OPTS).ok()
}

/// Path-ish strings: route words, separators, dots and percent-escapes, mixed.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("/api/".to_owned()),
        Just("blog".to_owned()),
        Just(ID.to_owned()),
        Just("samples".to_owned()),
        Just("samples.json".to_owned()),
        Just("/samples/".to_owned()),
        Just("errors.json".to_owned()),
        Just(".json".to_owned()),
        Just("graphs.json".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        "%[0-9a-fA-F]{2}",
        "[a-zA-Z0-9_#:-]{1,6}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|parts| parts.concat())
}

/// Query-ish strings built from real parameter names and hostile values.
fn query_strategy() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("action_id"),
        Just("exception"),
        Just("since"),
        Just("before"),
        Just("limit"),
        Just("count_only"),
        Just("callback"),
        Just("_"),
        Just("token"),
        Just("kind"),
        Just("action_name"),
        Just("from"),
        Just("to"),
        Just("timeframe"),
        Just("fields[]"),
        Just("fields%5B%5D"),
        Just("key"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        "[0-9]{1,12}",
        "(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](Z|\\+01:00)",
        "[A-Za-z:]{1,10}(%23|#|-hash-|/|%2F|\\.)[a-z]{1,6}",
        Just("true".to_owned()),
        Just("mean".to_owned()),
        Just("day".to_owned()),
        Just("deploy".to_owned()),
        "%[0-9a-fA-F]{2}",
        ".{0,12}",
    ];
    prop::collection::vec((name, value), 0..8)
        .prop_map(|pairs| pairs.into_iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&"))
}

proptest! {
    #[test]
    fn matched_paths_stay_inside_the_allowlisted_api(path in path_strategy()) {
        if let Some(m) = match_path(&path, &apps()) {
            let upstream = &m.upstream_path;
            prop_assert!(upstream.starts_with(&format!("/api/{ID}/samples")) || upstream == &format!("/api/{ID}/graphs.json")
                || upstream == &format!("/api/{ID}/markers.json"), "{upstream}");
            prop_assert!(upstream.ends_with(".json"));
            prop_assert!(!upstream.contains("..") && !upstream.contains("//"), "{upstream}");
            prop_assert!(upstream.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b)), "{upstream}");
            // Feeding the upstream path back matches the same path: normalisation is idempotent.
            let again = match_path(&upstream.replacen(ID, "blog", 1), &apps()).expect("normalised path matches");
            prop_assert_eq!(&again.upstream_path, upstream);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(path in ".{0,40}", query in ".{0,60}") {
        let _ = resolve(&path, &query);
        let _ = resolve("/api/blog/samples.json", &query);
        let _ = resolve("/api/blog/graphs.json", &query);
    }

    #[test]
    fn normalising_twice_gives_the_same_target(query in query_strategy(), route in 0usize..4) {
        let path = ["/api/blog/samples.json", "/api/blog/graphs.json", "/api/blog/markers.json", "/api/blog/samples/errors.json"][route];
        if let Some(first) = resolve(path, &query) {
            let normalised_query = first.upstream.split_once('?').map(|(_, q)| q).unwrap_or("");
            prop_assert!(!normalised_query.contains("token=") && !normalised_query.contains("callback="));
            let second = resolve(path, normalised_query).expect("a normalised query is valid");
            prop_assert_eq!(first.upstream, second.upstream);
        }
    }

    #[test]
    fn raw_and_escaped_action_ids_meet(controller in "[A-Z][a-zA-Z]{0,8}(::[A-Z][a-z]{1,5})?", sep in "[#/.]", action in "[a-z_]{1,8}") {
        let raw = format!("{controller}{sep}{action}");
        let escaped = raw.replace('#', "-hash-").replace('/', "-slash-").replace('.', "-dot-");
        let encoded: String = percent_encoding::utf8_percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC).to_string();
        let a = resolve("/api/blog/samples.json", &format!("action_id={encoded}&limit=5")).unwrap();
        let b = resolve("/api/blog/samples.json", &format!("limit=5&action_id={escaped}")).unwrap();
        prop_assert_eq!(&a.upstream, &b.upstream);
        let g1 = resolve("/api/blog/graphs.json", &format!("action_name={encoded}")).unwrap();
        let g2 = resolve("/api/blog/graphs.json", &format!("action_name={escaped}")).unwrap();
        prop_assert_eq!(g1.upstream, g2.upstream);
    }

    #[test]
    fn unix_and_rfc3339_times_meet(seconds in 0i64..4_102_444_800) {
        let rfc = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap()
            .format(&time::format_description::well_known::Rfc3339).unwrap();
        let a = resolve("/api/blog/samples.json", &format!("since={seconds}")).unwrap();
        let b = resolve("/api/blog/samples.json", &format!("since={rfc}")).unwrap();
        prop_assert_eq!(a.upstream, b.upstream);
        let m1 = resolve("/api/blog/markers.json", &format!("from={seconds}")).unwrap();
        let m2 = resolve("/api/blog/markers.json", &format!("from={rfc}")).unwrap();
        prop_assert_eq!(m1.upstream, m2.upstream);
    }

    /// Any id a list gives, passed through `encodeURIComponent` (which leaves only
    /// `A-Za-z0-9-_.!~*'()` unescaped), reaches AppSignal sanitized as one segment.
    #[test]
    fn ids_as_dashboards_encode_them_reach_appsignal_sanitized(raw in "[A-Za-z0-9_:#/. -]{1,40}") {
        prop_assume!(raw != "." && raw != "..");
        const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-').remove(b'_').remove(b'.').remove(b'!').remove(b'~').remove(b'*')
            .remove(b'\'').remove(b'(').remove(b')');
        let encoded = percent_encoding::utf8_percent_encode(&raw, URI_COMPONENT).to_string();
        let m = match_path(&format!("/api/blog/samples/{encoded}.json"), &apps()).expect("an encoded id matches");
        let sanitized = raw.replace('#', "-hash-").replace('/', "-slash-").replace('.', "-dot-");
        let forwarded = percent_encoding::utf8_percent_encode(&sanitized, URI_COMPONENT).to_string()
            .replace('!', "%21").replace('*', "%2A").replace('\'', "%27").replace('(', "%28").replace(')', "%29");
        prop_assert_eq!(&m.upstream_path, &format!("/api/{ID}/samples/{forwarded}.json"));
        prop_assert_eq!(m.upstream_path.matches('/').count(), 4, "one id segment");
    }

    /// A slash in the path itself (not encoded) is never part of an id.
    #[test]
    fn a_literal_slash_never_reaches_an_id(a in "[a-z0-9]{1,8}", b in "[a-z0-9]{1,8}") {
        for path in [
            format!("/api/blog/samples/{a}/{b}.json"),
            format!("/api/blog/samples/{a}//{b}.json"),
            format!("/api/blog/samples/{a}/../{b}.json"),
        ] {
            let matched = match_path(&path, &apps());
            prop_assert!(matched.is_none(), "{} matched", path);
        }
    }

    #[test]
    fn raw_and_sanitized_sample_ids_meet(digest in "[0-9a-f]{24}", action in "[A-Za-z]{1,8}[#.][a-z]{1,6}", t in 0u32..2_000_000_000) {
        let raw = format!("{digest}_{action}_{t}");
        let encoded = raw.replace('#', "%23");
        let sanitized = raw.replace('#', "-hash-").replace('.', "-dot-");
        let a = match_path(&format!("/api/blog/samples/{encoded}.json"), &apps()).unwrap();
        let b = match_path(&format!("/api/blog/samples/{sanitized}.json"), &apps()).unwrap();
        prop_assert_eq!(a.upstream_path, b.upstream_path);
    }
}
