//! Photo distribution, as the office's "Digital Image Protection and
//! Distribution" policy lays it down:
//!
//! - **Digital release within the Institute** only with a recorded
//!   permission: the Dean for Undergraduate Education's, for a student; the
//!   person's own written permission, for employees and others. Each
//!   release is recorded with the permission's reference and the recipient
//!   DLC.
//! - **Hard copies** of a student's photo to the recipients the Dean's
//!   announcement lists (Undergraduate Academic Affairs, the freshman
//!   advisor, the academic department, faculty teaching the student's
//!   subjects, Counseling and Student Support, the housemaster); for anyone
//!   else only with their written permission. Each is recorded.
//! - **The person's own copy**: one, hard copy or digital, whatever they
//!   chose about distribution.
//! - **The opt-out**: a person who asked that their photo not be
//!   distributed keeps it in the archive (for replacement cards) with the
//!   notation, and no release or hard copy goes out — only their own copy.
//!
//! Police access to photos stays with the chief's signed request
//! ([`crate::police`]).

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, Micros};
use crate::records::cardholder::fields::Affiliation;
use crate::records::video::is_reference;
use crate::store::{cf, docs, Store, StoreError};

const PERMISSION: &[u8] = b"photoperm/";
const DISTRIBUTION: &[u8] = b"photodist/";

/// Whose permission a release rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionKind {
    /// The Dean for Undergraduate Education's (students).
    Dean,
    /// The person's written permission (employees and others).
    Written,
}

/// A recorded permission to release a person's photo digitally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoPermission {
    /// The cardholder.
    pub holder: u64,
    /// Whose permission.
    pub kind: PermissionKind,
    /// The permission document's reference.
    pub reference: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// By whom.
    pub recorded_by: String,
}

/// The recipients of a student's photo in hard copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HardCopyRecipient {
    /// Undergraduate Academic Affairs (freshman year).
    UndergraduateAcademicAffairs,
    /// The freshman advisor.
    FreshmanAdvisor,
    /// The academic department.
    AcademicDepartment,
    /// Faculty teaching the student's subjects.
    Faculty,
    /// Counseling and Student Support (the Dean's office files).
    CounselingStudentSupport,
    /// The housemaster (dormitory residents).
    Housemaster,
}

/// One distribution of a photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "what")]
pub enum Distributed {
    /// A digital copy released within the Institute.
    DigitalRelease {
        /// The DLC it went to.
        to_dlc: String,
        /// The permission it rests on.
        permission: String,
    },
    /// A hard copy.
    HardCopy {
        /// Who received it.
        recipient: HardCopyRecipient,
        /// The permission it rests on, when one was needed.
        #[serde(default)]
        permission: Option<String>,
    },
    /// The person's own copy.
    OwnCopy {
        /// `digital` or `hard-copy`.
        format: String,
    },
}

/// A distribution as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// The cardholder.
    pub holder: u64,
    /// Its number among the holder's distributions.
    pub n: u64,
    /// When.
    pub at: String,
    /// By whom.
    pub by: String,
    /// What went where.
    #[serde(flatten)]
    pub what: Distributed,
}

/// Why a distribution is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistributionError {
    /// A value breaks a rule of form.
    #[error("{0}")]
    Invalid(String),
    /// The policy does not allow it.
    #[error("{0}")]
    Refused(String),
}

fn permission_key(holder: u64) -> Vec<u8> {
    [PERMISSION, &holder.to_be_bytes()[..]].concat()
}

fn distribution_prefix(holder: u64) -> Vec<u8> {
    [DISTRIBUTION, &holder.to_be_bytes()[..]].concat()
}

fn distribution_key(holder: u64, n: u64) -> Vec<u8> {
    [distribution_prefix(holder), n.to_be_bytes().to_vec()].concat()
}

/// The recorded permission for `holder`, if any.
pub fn permission(store: &Store, holder: u64) -> Result<Option<PhotoPermission>, StoreError> {
    docs::get(store, cf::OFFICE, &permission_key(holder))
}

/// Every distribution of `holder`'s photo, oldest first.
pub fn distributions(store: &Store, holder: u64) -> Result<Vec<Distribution>, StoreError> {
    docs::list(store, cf::OFFICE, &distribution_prefix(holder))
}

/// Adds a permission to `batch`.
pub fn stage_permission(
    store: &Store,
    b: &mut rocksdb::WriteBatch,
    p: &PhotoPermission,
) -> Result<(), StoreError> {
    docs::stage_put(store, b, cf::OFFICE, &permission_key(p.holder), p)
}

/// Adds a distribution to `batch`.
pub fn stage_distribution(
    store: &Store,
    b: &mut rocksdb::WriteBatch,
    d: &Distribution,
) -> Result<(), StoreError> {
    docs::stage_put(store, b, cf::OFFICE, &distribution_key(d.holder, d.n), d)
}

/// Plans recording a permission: the Dean's for a student, the person's
/// written one otherwise.
pub fn plan_permission(
    holder: u64,
    affiliation: Affiliation,
    kind: PermissionKind,
    reference: String,
    by: &str,
    now: Micros,
) -> Result<PhotoPermission, DistributionError> {
    if !is_reference(&reference) {
        return Err(DistributionError::Invalid(
            "a permission's reference is 3-40 of letters, digits, '-', '/', '.'".into(),
        ));
    }
    match (affiliation, kind) {
        (Affiliation::Student, PermissionKind::Written) => {
            return Err(DistributionError::Refused(
                "a student's photo is released digitally only with the Dean for Undergraduate Education's permission".into(),
            ))
        }
        (a, PermissionKind::Dean) if a != Affiliation::Student => {
            return Err(DistributionError::Refused(
                "an employee's or other's photo is released only with their own written permission".into(),
            ))
        }
        _ => {}
    }
    Ok(PhotoPermission {
        holder,
        kind,
        reference,
        recorded_at: rfc3339(now),
        recorded_by: by.to_owned(),
    })
}

/// What the rules need to know about the person.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The cardholder.
    pub holder: u64,
    /// Student or not.
    pub affiliation: Affiliation,
    /// They asked that their photo not be distributed.
    pub withheld: bool,
    /// Their recorded permission, if any.
    pub permission: Option<&'a PhotoPermission>,
    /// Their distributions so far.
    pub history: &'a [Distribution],
}

/// Plans one distribution of the subject's photo, or refuses it.
pub fn plan(
    s: &Subject<'_>,
    what: Distributed,
    by: &str,
    now: Micros,
) -> Result<Distribution, DistributionError> {
    // A permission counts only if it is the kind the person's affiliation
    // needs now (a Dean's permission recorded while a student does not
    // release a staff member's photo).
    let needed = if s.affiliation == Affiliation::Student {
        PermissionKind::Dean
    } else {
        PermissionKind::Written
    };
    let permission = s.permission.filter(|p| p.kind == needed);
    let withheld = || {
        DistributionError::Refused(format!(
            "not distributed: {}",
            crate::records::cardholder::PHOTO_WITHHELD_NOTATION
        ))
    };
    let what = match what {
        Distributed::DigitalRelease { to_dlc, .. } => {
            if s.withheld {
                return Err(withheld());
            }
            let Some(p) = permission else {
                return Err(DistributionError::Refused(match s.affiliation {
                    Affiliation::Student => "a student's photo is released digitally only with the Dean for Undergraduate Education's permission; none is recorded".into(),
                    _ => "this person's photo is released only with their written permission; none is recorded".into(),
                }));
            };
            Distributed::DigitalRelease {
                to_dlc,
                permission: p.reference.clone(),
            }
        }
        Distributed::HardCopy { recipient, .. } => {
            if s.withheld {
                return Err(withheld());
            }
            let permission = match (s.affiliation, permission) {
                (Affiliation::Student, _) => None,
                (_, Some(p)) => Some(p.reference.clone()),
                (_, None) => {
                    return Err(DistributionError::Refused(
                        "hard copies go to the listed recipients of students' photos; anyone else's only with their written permission, and none is recorded".into(),
                    ))
                }
            };
            if s.affiliation != Affiliation::Student
                && recipient != HardCopyRecipient::AcademicDepartment
            {
                return Err(DistributionError::Refused(
                    "the listed hard-copy recipients are a student's; an employee's photo goes only where their written permission says (their department)".into(),
                ));
            }
            Distributed::HardCopy {
                recipient,
                permission,
            }
        }
        Distributed::OwnCopy { format } => {
            if format != "digital" && format != "hard-copy" {
                return Err(DistributionError::Invalid(
                    "an own copy is `digital` or `hard-copy`".into(),
                ));
            }
            if s.history
                .iter()
                .any(|d| matches!(d.what, Distributed::OwnCopy { .. }))
            {
                return Err(DistributionError::Refused(
                    "the person has already had their single copy of their own photo".into(),
                ));
            }
            Distributed::OwnCopy { format }
        }
    };
    Ok(Distribution {
        holder: s.holder,
        n: s.history.iter().map(|d| d.n + 1).max().unwrap_or(1),
        at: rfc3339(now),
        by: by.to_owned(),
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(
        affiliation: Affiliation,
        withheld: bool,
        permission: Option<&'a PhotoPermission>,
        history: &'a [Distribution],
    ) -> Subject<'a> {
        Subject {
            holder: 4,
            affiliation,
            withheld,
            permission,
            history,
        }
    }

    #[test]
    fn permissions_opt_out_and_the_single_own_copy() {
        let release = || Distributed::DigitalRelease {
            to_dlc: "Physics".into(),
            permission: String::new(),
        };
        // A student: the Dean's permission, never a written one.
        assert!(plan_permission(
            4,
            Affiliation::Student,
            PermissionKind::Written,
            "P-1".into(),
            "x",
            0
        )
        .is_err());
        let dean = plan_permission(
            4,
            Affiliation::Student,
            PermissionKind::Dean,
            "DUE-7".into(),
            "x",
            0,
        )
        .unwrap();
        assert!(plan(
            &subject(Affiliation::Student, false, None, &[]),
            release(),
            "x",
            0
        )
        .is_err());
        let d = plan(
            &subject(Affiliation::Student, false, Some(&dean), &[]),
            release(),
            "x",
            0,
        )
        .unwrap();
        assert!(
            matches!(d.what, Distributed::DigitalRelease { ref permission, .. } if permission == "DUE-7")
        );
        // Withheld: nothing goes out, not even with a permission.
        assert!(plan(
            &subject(Affiliation::Student, true, Some(&dean), &[]),
            release(),
            "x",
            0
        )
        .is_err());
        let hard = Distributed::HardCopy {
            recipient: HardCopyRecipient::Housemaster,
            permission: None,
        };
        assert!(plan(
            &subject(Affiliation::Student, true, None, &[]),
            hard.clone(),
            "x",
            0
        )
        .is_err());
        assert!(plan(
            &subject(Affiliation::Student, false, None, &[]),
            hard.clone(),
            "x",
            0
        )
        .is_ok());
        // Staff: no hard copy to a student's recipients.
        let written = plan_permission(
            4,
            Affiliation::Staff,
            PermissionKind::Written,
            "W-3".into(),
            "x",
            0,
        )
        .unwrap();
        assert!(plan(
            &subject(Affiliation::Staff, false, Some(&written), &[]),
            hard,
            "x",
            0
        )
        .is_err());
        // The own copy: once, withheld or not.
        let own = || Distributed::OwnCopy {
            format: "digital".into(),
        };
        let first = plan(&subject(Affiliation::Staff, true, None, &[]), own(), "x", 0).unwrap();
        let history = [first];
        assert!(plan(
            &subject(Affiliation::Staff, true, None, &history),
            own(),
            "x",
            0
        )
        .is_err());
        // A Dean's permission from student days releases nothing once the
        // person is staff.
        assert!(plan(
            &subject(Affiliation::Staff, false, Some(&dean), &[]),
            release(),
            "x",
            0
        )
        .is_err());
    }
}
