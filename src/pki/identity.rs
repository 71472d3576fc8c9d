//! Who is on the other end of a connection, read from its client certificate.
//!
//! The role is the certificate subject's organizational unit and the identity
//! its common name. Both are set by the appliance CA at issuance; nothing a
//! peer says on the wire can change them.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

/// A role the appliance CA can put in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A door reader or door controller.
    Reader,
    /// Security-office staff: manage cards, readers and access levels.
    SecurityOffice,
    /// Card-office staff: replacements and card status.
    CardOffice,
    /// A police officer, acting under a request signed by the chief.
    Police,
    /// The chief of police, who signs investigation requests.
    PoliceChief,
    /// The director of security: approves video installations and
    /// alterations and decides video export requests.
    Director,
    /// A designee of the director, who may do the same.
    DirectorDesignee,
    /// A DLC's key authorizer: orders keys for the DLC and records their
    /// return.
    KeyAuthorizer,
    /// An auditor: reads audit trails, changes nothing.
    Auditor,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 9] = [
        Role::Reader,
        Role::SecurityOffice,
        Role::CardOffice,
        Role::Police,
        Role::PoliceChief,
        Role::Director,
        Role::DirectorDesignee,
        Role::KeyAuthorizer,
        Role::Auditor,
    ];

    /// The name used in certificates, on the command line and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::SecurityOffice => "security-office",
            Role::CardOffice => "card-office",
            Role::Police => "police",
            Role::PoliceChief => "police-chief",
            Role::Director => "director",
            Role::DirectorDesignee => "director-designee",
            Role::KeyAuthorizer => "key-authorizer",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`; roles are reader, security-office, card-office, police, police-chief, director, director-designee, key-authorizer, auditor")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The rule for every name an operator chooses that also names a file, a
/// certificate or a definition: readers, staff handles, door groups,
/// schedules, levels. 1-64 characters of `a-z A-Z 0-9 . _ -`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// What [`is_valid_name`] allows, for error messages.
pub const NAME_RULE: &str = "1-64 characters of a-z, A-Z, 0-9, '.', '_' or '-'";

/// The authenticated peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Certificate common name: a reader name or a staff member's handle.
    pub name: String,
    /// Certificate organizational unit.
    pub role: Role,
    /// The certificate's serial number (lower-case hex): what a revocation
    /// names.
    #[serde(default, skip_serializing)]
    pub serial: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role)
    }
}

/// Why a verified certificate still carries no usable identity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// The peer presented no certificate.
    #[error("no client certificate")]
    NoCertificate,
    /// The certificate does not parse as X.509.
    #[error("client certificate does not parse")]
    Unparsable,
    /// The subject has no common name.
    #[error("client certificate has no common name")]
    NoName,
    /// The subject's organizational unit is not a known role.
    #[error("client certificate carries no known role")]
    NoRole,
}

/// Reads the identity from the end-entity certificate of a verified chain.
pub fn from_peer_certificates(
    certs: Option<&[CertificateDer<'_>]>,
) -> Result<Identity, IdentityError> {
    let leaf = certs
        .and_then(|c| c.first())
        .ok_or(IdentityError::NoCertificate)?;
    from_der(leaf.as_ref())
}

/// Reads the identity from one DER certificate.
pub fn from_der(der: &[u8]) -> Result<Identity, IdentityError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|_| IdentityError::Unparsable)?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .filter(|s| !s.is_empty())
        .ok_or(IdentityError::NoName)?
        .to_owned();
    let role = subject
        .iter_organizational_unit()
        .filter_map(|a| a.as_str().ok())
        .find_map(|s| s.parse::<Role>().ok())
        .ok_or(IdentityError::NoRole)?;
    Ok(Identity {
        name,
        role,
        serial: hex::encode(cert.raw_serial()),
    })
}

/// Whether the end-entity certificate is inside its validity dates at
/// `unix_secs`. A full handshake has checked this already; a resumed one
/// has not (the session ticket may be hours old).
pub fn valid_at(certs: Option<&[CertificateDer<'_>]>, unix_secs: i64) -> bool {
    certs
        .and_then(|c| c.first())
        .and_then(|leaf| x509_parser::parse_x509_certificate(leaf.as_ref()).ok())
        .is_some_and(|(_, cert)| {
            let v = cert.validity();
            v.not_before.timestamp() <= unix_secs && unix_secs <= v.not_after.timestamp()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("janitor".parse::<Role>().is_err());
    }

    #[test]
    fn garbage_is_unparsable() {
        assert_eq!(from_der(b"\x30\x03abc"), Err(IdentityError::Unparsable));
        assert_eq!(
            from_peer_certificates(None),
            Err(IdentityError::NoCertificate)
        );
    }
}
