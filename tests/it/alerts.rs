//! The alert rules in `docs/alerts/` are valid, fire as their unit tests
//! say (promtool, from Debian's `prometheus`, installed by `make test`),
//! and name only metrics a running appliance exports.

use std::process::Command;

use crate::common::{http_get, Harness};

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alerts"))
        .output()
        .expect("promtool (Debian package prometheus; `make test` installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[tokio::test]
async fn alert_rules_are_valid_fire_as_tested_and_name_real_metrics() {
    promtool(&["check", "rules", "portcullis.rules.yml"]);
    promtool(&["test", "rules", "portcullis.test.yml"]);
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/alerts/portcullis.rules.yml"
    ))
    .unwrap();
    let h = Harness::start().await;
    let (s, text) = http_get(h.app().metrics_addr(), "/metrics").await;
    assert_eq!(s, 200);
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("portcullis_") && word.len() > "portcullis_".len() {
            named += 1;
            assert!(
                text.lines().any(|l| l.starts_with(word)),
                "the rules use {word}, which the appliance does not export"
            );
        }
    }
    assert!(named >= 8);
}
