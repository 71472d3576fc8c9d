//! Cardholder records: exactly the fields the office's policy lists, and
//! nothing else.
//!
//! Policy ("Personal Information in the SEMO Database"): ID number, last
//! name, first name, photo, registration or employment status, department,
//! position or affiliation, office address (employees), date of birth
//! (affiliates only). No information about race, religion, nationality,
//! ethnic background or gender. Every field is typed or drawn from a
//! restricted alphabet: there is no free-text field through which such data
//! could enter.
//!
//! Personal fields are sealed with the [`crate::crypto::vault`]; only the holder id,
//! whether the holder is active, whether the photo is withheld, and the
//! access levels are stored in clear (the decision path needs them without
//! decrypting anything).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Registration or employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A registered student.
    Registered,
    /// An employee.
    Employed,
    /// An affiliate in good standing.
    Affiliated,
    /// On leave: every card denied.
    OnLeave,
    /// Left the institute: every card denied.
    Left,
}

impl Status {
    /// Whether cards of a holder with this status may open doors.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Registered | Status::Employed | Status::Affiliated
        )
    }
}

/// Position or affiliation with the institute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Affiliation {
    /// Student.
    Student,
    /// Faculty member (an employee).
    Faculty,
    /// Staff member (an employee).
    Staff,
    /// Affiliate (contractor, visitor, partner).
    Affiliate,
}

impl Affiliation {
    /// Employees may have an office address.
    pub fn is_employee(self) -> bool {
        matches!(self, Affiliation::Faculty | Affiliation::Staff)
    }
}

/// The personal part of a cardholder record (sealed at rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Personal {
    /// The institute identification number.
    pub id_number: String,
    /// Last name.
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Registration or employment status.
    pub status: Status,
    /// Department.
    pub department: String,
    /// Position or affiliation.
    pub affiliation: Affiliation,
    /// Office address; employees only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_address: Option<String>,
    /// Date of birth (YYYY-MM-DD); affiliates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
}

/// Every field a cardholder record may carry, in policy order.
pub const FIELDS: [&str; 8] = [
    "id_number",
    "last_name",
    "first_name",
    "status",
    "department",
    "affiliation",
    "office_address",
    "date_of_birth",
];

/// Field names (and fragments) that name data the office never stores.
const FORBIDDEN: [&str; 10] = [
    "race",
    "religion",
    "nationality",
    "citizenship",
    "ethnic",
    "ethnicity",
    "gender",
    "sex",
    "faith",
    "national_origin",
];

/// Why cardholder input was refused. Messages never echo field values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolderInputError {
    /// A field about race, religion, nationality, ethnic background or gender.
    #[error("field `{0}` refused: this appliance never stores race, religion, nationality, ethnic background or gender")]
    Forbidden(String),
    /// A field the policy does not list.
    #[error("unknown field `{0}`; a cardholder record holds only: id_number, last_name, first_name, status, department, affiliation, office_address (employees), date_of_birth (affiliates); the photo is uploaded separately")]
    Unknown(String),
    /// A field with a bad value.
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong (never the value itself).
        problem: &'static str,
    },
    /// The body is not a JSON object.
    #[error("the body must be a JSON object of cardholder fields")]
    NotAnObject,
}

fn is_forbidden(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', ' '], "_");
    // Any word of the name, or any substring for the longer terms (so
    // `ethnic_background`, `ethnicity` and `citizenship_status` are caught);
    // `sex` only as a whole word, so `sussex_address` is merely unknown.
    FORBIDDEN
        .iter()
        .any(|f| k.split('_').any(|word| word == *f) || (f.len() > 3 && k.contains(f)))
}

/// Checks field names first (so a forbidden field is named as such even
/// when other fields are also wrong).
pub fn check_field_names(obj: &Map<String, Value>) -> Result<(), HolderInputError> {
    for key in obj.keys() {
        if is_forbidden(key) {
            return Err(HolderInputError::Forbidden(key.clone()));
        }
    }
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            return Err(HolderInputError::Unknown(key.clone()));
        }
    }
    Ok(())
}

/// An office address is a building and a room, nothing else: `E52-419`,
/// `7-019`, `NW12-2F`, or `Building 6, Room 201`. A building is at most
/// two capital letters and one to three digits; a room one to four digits
/// and at most one capital letter. No word fits either, so nothing else
/// can be written there.
fn is_office_address(a: &str) -> bool {
    use crate::records::doors::is_building;
    use crate::records::keyorders::is_room;
    let a = a.trim();
    match a.strip_prefix("Building ") {
        Some(rest) => rest
            .split_once(", Room ")
            .is_some_and(|(b, r)| is_building(b) && is_room(&format!("{b}-{r}"))),
        None => is_room(a),
    }
}

/// A text field: letters, space, `-`, `'`, `.`, plus `extra` characters and,
/// when `digits`, ASCII digits.
fn text(
    field: &'static str,
    v: &str,
    max: usize,
    extra: &str,
    digits: bool,
) -> Result<(), HolderInputError> {
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(HolderInputError::Invalid {
            field,
            problem: "must be non-empty and not too long",
        });
    }
    if !v.chars().all(|c| {
        c.is_alphabetic()
            || c == ' '
            || c == '-'
            || c == '\''
            || c == '.'
            || extra.contains(c)
            || (digits && c.is_ascii_digit())
    }) {
        return Err(HolderInputError::Invalid {
            field,
            problem: "contains characters this field does not allow",
        });
    }
    Ok(())
}

impl Personal {
    /// Parses and validates a full record from a JSON body.
    pub fn from_json(body: &Value) -> Result<Personal, HolderInputError> {
        let obj = body.as_object().ok_or(HolderInputError::NotAnObject)?;
        check_field_names(obj)?;
        let p: Personal = serde_json::from_value(body.clone()).map_err(|_| HolderInputError::Invalid {
            field: "record",
            problem: "a field is missing or has the wrong type (status: registered|employed|affiliated|on_leave|left; affiliation: student|faculty|staff|affiliate)",
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Applies a partial update (only the fields present), then validates.
    pub fn patched(&self, body: &Value) -> Result<Personal, HolderInputError> {
        let obj = body.as_object().ok_or(HolderInputError::NotAnObject)?;
        check_field_names(obj)?;
        let mut merged = serde_json::to_value(self).map_err(|_| HolderInputError::NotAnObject)?;
        let m = merged
            .as_object_mut()
            .ok_or(HolderInputError::NotAnObject)?;
        for (k, v) in obj {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
        Personal::from_json(&merged)
    }

    /// Field rules.
    pub fn validate(&self) -> Result<(), HolderInputError> {
        let id_ok = !self.id_number.is_empty()
            && self.id_number.len() <= 20
            && self.id_number.chars().all(|c| c.is_ascii_alphanumeric());
        if !id_ok {
            return Err(HolderInputError::Invalid {
                field: "id_number",
                problem: "must be 1-20 letters or digits",
            });
        }
        text("last_name", &self.last_name, 100, "", false)?;
        text("first_name", &self.first_name, 100, "", false)?;
        // A department is chosen from the registry of departments, labs
        // and centers (checked by the book), never typed in: a code.
        if !crate::pki::identity::is_valid_name(&self.department) {
            return Err(HolderInputError::Invalid {
                field: "department",
                problem: "is the code of a registered department, lab or center",
            });
        }
        match (&self.office_address, self.affiliation.is_employee()) {
            (Some(_), false) => {
                return Err(HolderInputError::Invalid {
                    field: "office_address",
                    problem: "is kept for employees (faculty, staff) only",
                })
            }
            (Some(a), true) if !is_office_address(a) => {
                return Err(HolderInputError::Invalid {
                    field: "office_address",
                    problem: "is a building and room: `E52-419`, `7-019` or `Building 6, Room 201`",
                });
            }
            _ => {}
        }
        match (
            &self.date_of_birth,
            self.affiliation == Affiliation::Affiliate,
        ) {
            (Some(_), false) => {
                return Err(HolderInputError::Invalid {
                    field: "date_of_birth",
                    problem: "is kept for affiliates only",
                })
            }
            (Some(d), true) => {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                if time::Date::parse(d, &fmt).is_err() {
                    return Err(HolderInputError::Invalid {
                        field: "date_of_birth",
                        problem: "must be a date, YYYY-MM-DD",
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok() -> Value {
        json!({
            "id_number": "900123456",
            "last_name": "Fixture",
            "first_name": "Test",
            "status": "employed",
            "department": "Physics",
            "affiliation": "staff",
            "office_address": "Building 6, Room 201"
        })
    }

    #[test]
    fn a_policy_record_is_accepted() {
        let p = Personal::from_json(&ok()).unwrap();
        assert_eq!(p.status, Status::Employed);
    }

    #[test]
    fn forbidden_fields_are_named_as_never_stored() {
        for f in [
            "race",
            "religion",
            "nationality",
            "ethnic_background",
            "gender",
            "Ethnicity",
            "sex",
        ] {
            let mut v = ok();
            v[f] = json!("x");
            let e = Personal::from_json(&v).unwrap_err();
            assert!(matches!(e, HolderInputError::Forbidden(_)), "{f}: {e}");
            assert!(e.to_string().contains("never stores"));
        }
    }

    #[test]
    fn unknown_and_misplaced_fields_are_refused() {
        let mut v = ok();
        v["notes"] = json!("anything");
        assert!(matches!(
            Personal::from_json(&v),
            Err(HolderInputError::Unknown(_))
        ));
        let mut v = ok();
        v["date_of_birth"] = json!("1990-01-01");
        assert!(matches!(
            Personal::from_json(&v),
            Err(HolderInputError::Invalid {
                field: "date_of_birth",
                ..
            })
        ));
        let mut v = ok();
        v["affiliation"] = json!("student");
        assert!(matches!(
            Personal::from_json(&v),
            Err(HolderInputError::Invalid {
                field: "office_address",
                ..
            })
        ));
        let mut v = ok();
        v["last_name"] = json!("Robert'); DROP TABLE--");
        assert!(Personal::from_json(&v).is_err());
        let mut v = ok();
        v["id_number"] = json!("12 34");
        assert!(Personal::from_json(&v).is_err());
        // No free text through the back door.
        let mut v = ok();
        v["department"] = json!("Physics Religion Catholic");
        assert!(Personal::from_json(&v).is_err(), "a department is a code");
        let mut v = ok();
        v["office_address"] = json!("Gender female, nationality X");
        assert!(Personal::from_json(&v).is_err());
        for addr in [
            "Building Muslim, Room Gay",
            "Female-1",
            "E52-Jewish",
            "Building 6, Room Asian",
            "ABC12-1",
            "E52-41999",
            "e52-419",
        ] {
            let mut v = ok();
            v["office_address"] = json!(addr);
            assert!(Personal::from_json(&v).is_err(), "{addr}");
        }
        for addr in [
            "E52-419",
            "7-019",
            "Building 6, Room 201",
            "NW12-2F",
            "W20-007A",
        ] {
            let mut v = ok();
            v["office_address"] = json!(addr);
            assert!(Personal::from_json(&v).is_ok(), "{addr}");
        }
    }
}
