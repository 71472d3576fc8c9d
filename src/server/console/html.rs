//! Building the console's pages: escaping, the layout every page shares,
//! and small form helpers. No template engine and no script: pages are
//! server-rendered HTML with one style sheet served by the appliance.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The style sheet (served at `/console/style.css`): readable on a phone
/// at the counter as on a desk.
pub const STYLE: &str = r#"
:root { --fg: #1d2430; --muted: #5b6472; --line: #d7dce3; --accent: #8a1538; --ok: #1b6e3a; --bad: #a3211f; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f6f7f9; }
header { background: var(--accent); color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: baseline; }
header strong { font-size: 1.1rem; }
header .who { margin-left: auto; font-size: .9rem; opacity: .9; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: .4rem 1rem; display: flex; flex-wrap: wrap; gap: .3rem .9rem; }
nav a { color: var(--accent); text-decoration: none; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .2rem 0 .8rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
section, form.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin: .8rem 0; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .9rem; }
label { display: block; margin: .5rem 0 .2rem; font-weight: 600; font-size: .92rem; }
input, select, textarea { width: 100%; max-width: 28rem; padding: .45rem; font: inherit; border: 1px solid #b9c0ca; border-radius: 4px; }
input[type=checkbox] { width: auto; }
textarea { max-width: 100%; min-height: 10rem; font-family: ui-monospace, monospace; font-size: .85rem; }
button { margin-top: .7rem; padding: .5rem 1rem; font: inherit; border: 0; border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #5b6472; }
form.inline { display: inline; }
form.inline button { margin: 0 .3rem 0 0; padding: .25rem .6rem; font-size: .9rem; }
.notice { padding: .6rem .8rem; border-radius: 4px; margin: .6rem 0; }
.ok { background: #e6f4ea; border: 1px solid #9fd3ad; color: var(--ok); }
.error { background: #fbeaea; border: 1px solid #e3a3a1; color: var(--bad); }
.secret { font: 1.1rem ui-monospace, monospace; background: #fff8dc; padding: .3rem .5rem; border: 1px dashed #c9a227; }
.muted { color: var(--muted); font-size: .9rem; }
img.photo { max-width: 10rem; border: 1px solid var(--line); }
.tag { display: inline-block; padding: 0 .4rem; border-radius: 3px; background: #eef0f3; font-size: .85rem; }
@media (max-width: 40rem) { th, td { padding: .3rem; font-size: .9rem; } header .who { margin-left: 0; } }
"#;

/// A page: the layout, the navigation for the caller's role, a message
/// (confirmation or error, in words), and the body.
pub fn page(
    title: &str,
    who: &str,
    nav: &[(&str, &str)],
    message: Option<&Message>,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Portcullis</title><link rel=\"stylesheet\" href=\"/console/style.css\"></head><body>\
         <header><strong>Portcullis</strong><span>MIT Security and Emergency Management Office</span>\
         <span class=\"who\">{}</span></header><nav>",
        esc(title),
        esc(who)
    );
    for (href, label) in nav {
        let _ = write!(out, "<a href=\"{}\">{}</a>", esc(href), esc(label));
    }
    let _ = write!(out, "</nav><main><h1>{}</h1>", esc(title));
    if let Some(m) = message {
        let _ = write!(
            out,
            "<div class=\"notice {}\" role=\"status\" id=\"message\">{}</div>",
            if m.ok { "ok" } else { "error" },
            esc(&m.text)
        );
    }
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// A confirmation or an error shown at the top of a page.
#[derive(Debug, Clone)]
pub struct Message {
    /// Success (true) or refusal.
    pub ok: bool,
    /// In words.
    pub text: String,
}

impl Message {
    /// A confirmation.
    pub fn ok(text: impl Into<String>) -> Self {
        Message {
            ok: true,
            text: text.into(),
        }
    }

    /// A refusal or failure.
    pub fn error(text: impl Into<String>) -> Self {
        Message {
            ok: false,
            text: text.into(),
        }
    }
}

/// The opening of a POST form carrying the CSRF token.
pub fn form(action: &str, csrf: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(action),
        esc(class),
        esc(csrf)
    )
}

/// A multipart form (file upload).
pub fn upload_form(action: &str, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"card\" enctype=\"multipart/form-data\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(action),
        esc(csrf)
    )
}

/// A labelled text input keeping `value`.
pub fn input(name: &str, label: &str, value: &str, extra: &str) -> String {
    format!(
        "<label for=\"{n}\">{l}</label><input id=\"{n}\" name=\"{n}\" value=\"{v}\" {extra}>",
        n = esc(name),
        l = esc(label),
        v = esc(value),
    )
}

/// A labelled select of `options` (value, label), `selected` chosen.
pub fn select(name: &str, label: &str, options: &[(&str, &str)], selected: &str) -> String {
    let mut out = format!(
        "<label for=\"{n}\">{l}</label><select id=\"{n}\" name=\"{n}\">",
        n = esc(name),
        l = esc(label)
    );
    for (v, l) in options {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            esc(v),
            if *v == selected { " selected" } else { "" },
            esc(l)
        );
    }
    out.push_str("</select>");
    out
}

/// A table from a header and rows of already-escaped cells.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">None.</p>".into();
    }
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The text of a JSON value (strings without quotes), escaped.
pub fn v(x: &serde_json::Value) -> String {
    match x {
        serde_json::Value::String(s) => esc(s),
        serde_json::Value::Null => String::new(),
        other => esc(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        assert_eq!(
            esc("<script>\"x\" & 'y'"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
        let p = page(
            "<t>",
            "<who>",
            &[("/a?b=<c>", "<n>")],
            Some(&Message::error("<e>")),
            "",
        );
        assert!(
            !p.contains("<t>") && !p.contains("<who>") && !p.contains("<e>") && !p.contains("<n>")
        );
        assert!(input("n", "l", "\"><script>", "").contains("&quot;&gt;&lt;script&gt;"));
    }
}
