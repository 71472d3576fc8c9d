//! The metrics endpoint: valid Prometheus text, the promised families.

use std::collections::HashMap;

use crate::common::{http_get, random_number, Harness, READER};

/// A strict-enough parser of the Prometheus text format (0.0.4): every
/// sample belongs to a family declared by `# TYPE`, names and labels are
/// well formed, values are floats. Returns sample name → value (labels kept
/// in the name).
fn parse(text: &str) -> Result<HashMap<String, f64>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for (no, line) in text.lines().enumerate() {
        let err = |m: &str| Err(format!("line {}: {m}: {line}", no + 1));
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut p = rest.split(' ');
            let (Some(n), Some(t), None) = (p.next(), p.next(), p.next()) else {
                return err("bad TYPE");
            };
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                return err("unknown type");
            }
            types.insert(n.to_owned(), t.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or("no value")?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("line {}: bad value", no + 1))?,
        };
        let name = match series.split_once('{') {
            Some((n, labels)) => {
                let labels = labels.strip_suffix('}').ok_or("unclosed labels")?;
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").ok_or("bad label")?;
                    if !valid_name(k) || v.contains('\n') {
                        return err("bad label");
                    }
                }
                n
            }
            None => series,
        };
        if !valid_name(name) {
            return err("bad metric name");
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(|t| t == "histogram").unwrap_or(false))
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            return err("sample without a TYPE line");
        }
        samples.insert(series.to_owned(), value);
    }
    Ok(samples)
}

#[tokio::test]
async fn metrics_endpoint_is_prometheus_text_with_the_promised_families() {
    let h = Harness::start().await;
    let (_, n) = h.issue(1).await;
    let mut r = h.reader(READER).await;
    r.verify(1, 1, &n).await.unwrap();
    r.verify(2, 1, &random_number()).await.unwrap();

    let (status, body) = http_get(h.app().metrics_addr(), "/metrics").await;
    assert_eq!(status, 200);
    let samples = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    for name in samples.keys() {
        assert!(name.starts_with("portcullis_"), "{name}");
    }
    let get = |k: &str| {
        *samples
            .get(k)
            .unwrap_or_else(|| panic!("missing {k}\n{body}"))
    };
    assert_eq!(
        get("portcullis_verifications_total{decision=\"grant\",reason=\"granted\"}"),
        1.0
    );
    assert_eq!(
        get("portcullis_verifications_total{decision=\"deny\",reason=\"unknown\"}"),
        1.0
    );
    assert_eq!(get("portcullis_reader_connections"), 1.0);
    assert_eq!(get("portcullis_credentials_loaded"), 1.0);
    assert_eq!(get("portcullis_journal_records_total"), 2.0);
    assert!(get("portcullis_verification_duration_seconds_count") >= 2.0);
    assert!(get("portcullis_journal_batch_records_count") >= 1.0);
    assert!(get("portcullis_journal_commit_duration_seconds_count") >= 1.0);
    assert!(samples.contains_key("portcullis_journal_queue_records"));
    assert!(samples.contains_key("portcullis_journal_oldest_record_age_seconds"));
    assert!(samples
        .keys()
        .any(|k| k.starts_with("portcullis_tls_handshake_failures_total{")));
    assert!(samples
        .keys()
        .any(|k| k.starts_with("portcullis_frames_rejected_total{")));
    // No access number in the exposition, in any form.
    assert!(!body.contains(&n.reveal()));
    assert!(!body.contains(&hex::encode(n.0)));

    assert_eq!(http_get(h.app().metrics_addr(), "/healthz").await.0, 200);
    assert_eq!(http_get(h.app().metrics_addr(), "/readyz").await.0, 200);
}

#[test]
fn the_parser_rejects_what_it_should() {
    assert!(parse("foo 1\n").is_err());
    assert!(parse("# TYPE foo counter\nfoo{a=\"b\"} x\n").is_err());
    assert!(parse("# TYPE foo counter\n9foo 1\n").is_err());
    assert!(parse("# TYPE foo counter\nfoo{a=\"b\"} 1\n").is_ok());
}
