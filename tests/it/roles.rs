//! The role table (`api::Op`) is what the server enforces: every operation
//! called with every role's certificate, a refusal for each role the table
//! does not name, and no trace of a refused call anywhere.

use portcullis::api::Op;
use portcullis::pki::identity::Role;

use crate::common::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_refuses_every_role_the_table_does_not_name() {
    let h = Harness::start().await;
    for role in Role::ALL {
        h.pki.issue(role, "matrix").unwrap();
    }
    let (card, _) = h.issue(1).await;
    let mut allowed_calls = 0;
    for &op in Op::ALL {
        for role in Role::ALL {
            let c = h.admin_as(role, "matrix");
            let args: Vec<String> = op
                .path()
                .split('/')
                .filter(|s| s.starts_with('{'))
                .map(|s| {
                    if s == "{name}" {
                        "matrix-target".to_owned()
                    } else {
                        card.to_string()
                    }
                })
                .collect();
            let refs: Vec<&(dyn std::fmt::Display + Sync)> = args
                .iter()
                .map(|a| a as &(dyn std::fmt::Display + Sync))
                .collect();
            let (s, v) = c
                .call(op, &refs)
                .bytes(b"{}".to_vec())
                .send()
                .await
                .unwrap();
            if op.allows(role) {
                allowed_calls += 1;
                assert_ne!(s, 403, "{op} refused {role}, which the table allows: {v}");
                assert_ne!(s, 401, "{op} as {role}: {v}");
            } else {
                assert_eq!(s, 403, "{op} as {role} must be refused: {v}");
                let msg = v["error"].as_str().unwrap_or_default();
                assert!(msg.contains(role.as_str()), "{op}: {msg}");
            }
        }
    }
    assert!(allowed_calls > Op::ALL.len());
    // Nothing a refused role did left an audit entry: every entry's action
    // is an operation its role may call.
    let (s, log) = h
        .admin_as(Role::Auditor, "matrix")
        .call(Op::AuditRead, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    for e in log.as_array().unwrap() {
        let action = e["action"].as_str().unwrap();
        let role: Role = e["role"].as_str().unwrap().parse().unwrap();
        let op = Op::ALL
            .iter()
            .find(|o| o.name() == action)
            .unwrap_or_else(|| panic!("audit action {action} is no operation"));
        assert!(op.allows(role), "{role} has an audit entry for {action}");
    }
    // Refusals are counted per operation.
    let text = h.app().core().metrics.render();
    let forbidden: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("portcullis_admin_requests_total{") && l.contains("outcome=\"forbidden\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let refusals = Op::ALL
        .iter()
        .map(|o| Role::ALL.iter().filter(|r| !o.allows(**r)).count())
        .sum::<usize>();
    assert_eq!(forbidden as usize, refusals);
}

/// "What may the police role do?" has one answer, and it is small.
#[test]
fn the_police_role_may_only_submit_signed_requests() {
    let ops: Vec<&str> = Op::allowed_for(Role::Police)
        .iter()
        .map(|o| o.name())
        .collect::<Vec<_>>();
    assert_eq!(
        ops,
        [
            "whoami",
            "investigation.journal",
            "investigation.photo",
            "video.exports",
            "video.export.submit",
            "video.export.collect"
        ]
    );
}
