//! What every command that talks to the admin API shares: the client for
//! `--as-role`/`--as`, a runtime, and printing answers.

use anyhow::{Context, Result};
use portcullis::client::AdminClient;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;

use crate::flags::AdminOpts;

impl AdminOpts {
    /// The admin client with this identity's certificate.
    pub fn client(&self) -> Result<AdminClient> {
        let pki = PkiDir::new(&self.certs);
        let me = pki.client(self.as_role, &self.as_name);
        let cfg = tls::client_config(&pki.ca_cert(), &me.cert, &me.key).with_context(|| {
            format!(
                "loading the client certificate of {} {} (issue one with `portcullis pki issue --role {} --name {}`)",
                self.as_role, self.as_name, self.as_role, self.as_name
            )
        })?;
        Ok(AdminClient::new(self.admin, cfg))
    }
}

/// Runs `f` on a single-threaded runtime.
pub fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Prints an answer as pretty JSON.
pub fn print(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The end of day `s` (YYYY-MM-DD, UTC) in Unix seconds: a card valid
/// until that day expires at the end of it.
pub fn day_end(s: &str) -> Result<u32> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).with_context(|| format!("`{s}` is not YYYY-MM-DD"))?;
    let end = d
        .next_day()
        .context("date out of range")?
        .midnight()
        .assume_utc()
        .unix_timestamp();
    u32::try_from(end).context("date out of range")
}
